package encoding

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadAnyEveryEncoding(t *testing.T) {
	t.Parallel()
	ts := time.UnixMilli(1700000000123).UTC()
	tests := []struct {
		name string
		in   []byte
		want any
	}{
		{"null", []byte{0x40}, nil},
		{"bool 0x56 true", []byte{0x56, 1}, true},
		{"bool 0x56 false", []byte{0x56, 0}, false},
		{"bool true", []byte{0x41}, true},
		{"bool false", []byte{0x42}, false},
		{"ubyte", []byte{0x50, 7}, uint8(7)},
		{"ushort", []byte{0x60, 1, 2}, uint16(0x102)},
		{"uint", []byte{0x70, 0, 1, 0, 0}, uint32(0x10000)},
		{"smalluint", []byte{0x52, 9}, uint32(9)},
		{"uint0", []byte{0x43}, uint32(0)},
		{"ulong", []byte{0x80, 0, 0, 0, 1, 0, 0, 0, 0}, uint64(1 << 32)},
		{"smallulong", []byte{0x53, 9}, uint64(9)},
		{"ulong0", []byte{0x44}, uint64(0)},
		{"byte", []byte{0x51, 0xff}, int8(-1)},
		{"short", []byte{0x61, 0xff, 0xfe}, int16(-2)},
		{"int", []byte{0x71, 0xff, 0xff, 0xff, 0xfd}, int32(-3)},
		{"smallint", []byte{0x54, 0xfc}, int32(-4)},
		{"long", []byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb}, int64(-5)},
		{"smalllong", []byte{0x55, 0xfa}, int64(-6)},
		{"float", []byte{0x72, 0x3f, 0x80, 0, 0}, float32(1)},
		{"double", []byte{0x82, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, float64(1)},
		{"char", []byte{0x73, 0, 0, 0, 'x'}, Char('x')},
		{"timestamp", append([]byte{0x83}, be64(uint64(ts.UnixMilli()))...), ts},
		{"uuid", append([]byte{0x98}, make([]byte, 16)...), UUID{}},
		{"vbin8", []byte{0xa0, 2, 1, 2}, []byte{1, 2}},
		{"vbin32", []byte{0xb0, 0, 0, 0, 1, 9}, []byte{9}},
		{"str8", []byte{0xa1, 2, 'h', 'i'}, "hi"},
		{"str32", []byte{0xb1, 0, 0, 0, 1, 'h'}, "h"},
		{"sym8", []byte{0xa3, 1, 'a'}, Symbol("a")},
		{"sym32", []byte{0xb3, 0, 0, 0, 1, 'b'}, Symbol("b")},
		{"list0", []byte{0x45}, []any{}},
		{"list8", []byte{0xc0, 3, 2, 0x41, 0x40}, []any{true, nil}},
		{"list32", []byte{0xd0, 0, 0, 0, 6, 0, 0, 0, 2, 0x43, 0x42}, []any{uint32(0), false}},
		{"map8", []byte{0xc1, 5, 2, 0xa3, 1, 'k', 0x41}, map[any]any{Symbol("k"): true}},
		{"map32", []byte{0xd1, 0, 0, 0, 8, 0, 0, 0, 2, 0xa1, 1, 'k', 0x42}, map[any]any{"k": false}},
		{"array8 sym", []byte{0xe0, 6, 2, 0xa3, 1, 'a', 1, 'b'}, []Symbol{"a", "b"}},
		{"array32 int", []byte{0xf0, 0, 0, 0, 13, 0, 0, 0, 2, 0x71, 0, 0, 0, 1, 0, 0, 0, 2}, Array{int32(1), int32(2)}},
		{"array8 bool 0x56", []byte{0xe0, 4, 2, 0x56, 1, 0}, Array{true, false}},
		{"array32 str", []byte{0xf0, 0, 0, 0, 8, 0, 0, 0, 1, 0xa1, 2, 'h', 'i'}, []string{"hi"}},
		{"array empty", []byte{0xe0, 2, 0, 0x40}, Array{}},
		{"described", []byte{0x00, 0xa3, 1, 'd', 0xa1, 1, 'v'}, &Described{Descriptor: Symbol("d"), Value: "v"}},
		{"described ulong", []byte{0x00, 0x53, 0x77, 0x43}, &Described{Descriptor: uint64(0x77), Value: uint32(0)}},
		{"accepted", []byte{0x00, 0x53, 0x24, 0x45}, &StateAccepted{}},
		{"error", []byte{0x00, 0x53, 0x1d, 0xc0, 4, 1, 0xa3, 1, 'x'}, &Error{Condition: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewReader(tt.in)
			got, err := r.ReadAny()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Zero(t, r.Len(), "value not fully consumed")

			r.Reset(tt.in)
			require.NoError(t, r.Skip())
			assert.Zero(t, r.Len(), "skip did not consume the value")
		})
	}
}

func TestWriterRoundTrip(t *testing.T) {
	t.Parallel()
	values := []any{
		nil, true, false, uint8(1), uint16(300), uint32(0), uint32(7), uint32(70000),
		uint64(0), uint64(9), uint64(1 << 40), int8(-1), int16(-300), int32(5), int32(-70000),
		int64(3), int64(math.MinInt64), float32(2.5), float64(-1.25), Char('é'),
		time.UnixMilli(1234567).UTC(), UUID{1, 2, 3}, []byte("bin"), make([]byte, 300),
		"str", string(make([]byte, 300)), Symbol("sym"), []Symbol{"a", "bc"},
		[]any{uint32(1), "x", []any{}}, map[any]any{Symbol("a"): int64(1)},
		&Described{Descriptor: uint64(0x468C00000004), Value: "amqp.annotation.x-opt-offset > '5'"},
	}
	for _, v := range values {
		var w Writer
		require.NoError(t, w.Any(v))
		got, err := NewReader(w.B).ReadAny()
		require.NoError(t, err, "%T", v)
		want := v
		if l, ok := v.([]any); ok && len(l) == 3 {
			want = []any{uint32(1), "x", []any{}}
		}
		assert.Equal(t, want, got, "%T", v)
	}
}

func TestHostileLengths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
	}{
		{"vbin32 4GiB", []byte{0xb0, 0xff, 0xff, 0xff, 0xff, 1}},
		{"str32 past end", []byte{0xb1, 0, 0, 0, 9, 'a'}},
		{"list32 huge count", []byte{0xd0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40}},
		{"list32 huge size", []byte{0xd0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}},
		{"map odd", []byte{0xc1, 2, 1, 0x40}},
		{"map list key", []byte{0xc1, 4, 2, 0x45, 0x40}},
		{"array32 nulls", []byte{0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40}},
		{"array8 count beyond size", []byte{0xe0, 2, 200, 0x40}},
		{"bool byte 2", []byte{0x56, 2}},
		{"deep nesting", deepList(100)},
		{"described chain", append(bytesRepeat(0x00, 200), 0x40)},
		{"truncated ulong", []byte{0x80, 1, 2}},
		{"unknown code", []byte{0xff}},
		{"list size lies", []byte{0xc0, 3, 1, 0x43}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewReader(tt.in).ReadAny()
			require.ErrorIs(t, err, ErrDecode)
		})
	}
}

func deepList(n int) []byte {
	var b []byte
	for range n {
		b = append(b, 0xc0, 0xff, 1)
	}
	return b
}

func bytesRepeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[7-i] = byte(v >> (8 * i))
	}
	return b
}
