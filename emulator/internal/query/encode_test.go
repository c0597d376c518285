package query

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	var control strings.Builder
	for c := 0; c < 0x80; c++ {
		control.WriteByte(byte(c))
	}
	values := []any{
		nil, true, false, 0.0, -0.0, 1.0, -1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.123, math.MaxFloat64, math.SmallestNonzeroFloat64, -2e-9,
		"", "plain", control.String(), "ä€😀", "bad\xffutf8\xc3", "line\u2028sep\u2029", "<a href='x'>&amp;</a>",
		[]any{}, []any(nil), []any{1.0, "x", nil, []any{true}}, map[string]any{}, map[string]any{"b": 1.0, "a": map[string]any{"$v": "x", "\n": nil}},
		map[string]any{"int": 3, "json": json.Number("12")},
	}
	for i := range 300 {
		values = append(values, makeDevice(i))
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		got, err := appendJSON(nil, v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
	_, err := appendJSON(nil, map[string]any{"x": math.NaN()})
	assert.Error(t, err)
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("hello")
	f.Add("<\x00\xff\u2028>")
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Skip()
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
