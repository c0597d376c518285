package amqpvalue

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInt64(t *testing.T) {
	t.Parallel()
	for _, v := range []any{int64(7), int32(7), int16(7), int8(7), 7, uint32(7), uint16(7), uint8(7), uint64(7)} {
		n, ok := Int64(v)
		assert.True(t, ok, "%T", v)
		assert.Equal(t, int64(7), n, "%T", v)
	}
	for _, v := range []any{uint64(1 << 63), "7", 7.0, nil} {
		_, ok := Int64(v)
		assert.False(t, ok, "%T %v", v, v)
	}
}
