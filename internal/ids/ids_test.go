package ids

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotkit-go/iothub"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	good := []string{"d1", "a-b.c%d_e*f?g!h(i)j,k:l=m@n$o'p", "a+b#c;d", "...", ".a", strings.Repeat("x", 128)}
	for _, id := range good {
		assert.NoError(t, Device(id), id)
		assert.NoError(t, Module("dev", id), id)
	}
	bad := []string{"", strings.Repeat("x", 129), "a b", "a/b", "é", "a\x00", "a&b", "a\\b", "a<b", "a\"b", ".", ".."}
	for _, id := range bad {
		err := Device(id)
		assert.ErrorIs(t, err, iothub.ErrArgumentInvalid, "%q", id)
		assert.ErrorIs(t, Module("dev", id), iothub.ErrArgumentInvalid, "%q", id)
		assert.ErrorIs(t, Module(id, "m"), iothub.ErrArgumentInvalid, "%q", id)
	}
	assert.Contains(t, Device("a/b").Error(), `'/'`)
	assert.Contains(t, Check("module", "").Error(), "module id is empty")
	assert.Contains(t, Device("..").Error(), "names no resource")
	for c := 0; c < 128; c++ {
		want := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-:.+%_#*?!(),=@;$'", rune(c))
		assert.Equal(t, want, ValidByte(byte(c)), "%q", rune(c))
	}
}

func TestNewUUID(t *testing.T) {
	t.Parallel()
	a, b := NewUUID(), NewUUID()
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a)
	assert.NotEqual(t, a, b)
}
