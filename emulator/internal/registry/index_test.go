package registry

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKeyIndex(t *testing.T) {
	t.Parallel()
	x := newKeyIndex()
	for _, k := range []string{"c", "a", "e", "b", "d", "a"} {
		x.insert(k)
	}
	x.remove("d")
	x.remove("zz")
	assert.Equal(t, 4, x.len())
	collect := func(after string, limit int) []string {
		var out []string
		x.after(after, func(k string) bool {
			if len(out) == limit {
				return false
			}
			out = append(out, k)
			return true
		})
		return out
	}
	assert.Equal(t, []string{"a", "b", "c", "e"}, collect("", 10))
	assert.Equal(t, []string{"c", "e"}, collect("b", 10), "after is exclusive")
	assert.Equal(t, []string{"e"}, collect("d", 10), "after need not be a key")
	assert.Equal(t, []string{"a", "b"}, collect("", 2))
	assert.Empty(t, collect("e", 10))
}
