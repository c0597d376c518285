package query

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupKeyOrder checks that group keys sort in the natural order of
// their values and never collide.
func TestGroupKeyOrder(t *testing.T) {
	t.Parallel()
	ordered := []any{
		undefined, nil, false, true,
		math.Inf(-1), -1e300, -2.5, -1.0, -1e-300, 0.0, 1e-300, 1.0, 2.0, 10.0, 1e300,
		"", "\x00", "\x00\x00", "\x00a", "1", "A", "a", "a\x00", "ab", "b", "ä",
		[]any{}, map[string]any{"a": 1.0},
	}
	var prev []byte
	for i, v := range ordered {
		if f, ok := v.(float64); ok && math.IsInf(f, 0) {
			continue // not JSON, but the number encoding handles it
		}
		k, err := appendKeyPart(nil, v)
		require.NoError(t, err)
		if i > 0 {
			assert.Equal(t, -1, bytes.Compare(prev, k), "%#v must sort after the value before it", v)
		}
		prev = k
	}
	neg, err := appendKeyPart(nil, math.Copysign(0, -1))
	require.NoError(t, err)
	zero, err := appendKeyPart(nil, 0.0)
	require.NoError(t, err)
	assert.Equal(t, zero, neg, "-0 and 0 are one group")

	// Tuples: the first value decides before the second.
	a, _ := appendKeyPart(nil, "a")
	a, _ = appendKeyPart(a, "z")
	ab, _ := appendKeyPart(nil, "ab")
	ab, _ = appendKeyPart(ab, "a")
	assert.Equal(t, -1, bytes.Compare(a, ab))
}

func TestGroupRowsInValueOrder(t *testing.T) {
	t.Parallel()
	f := newFleet(fleetSize)
	q := mustParse(t, "SELECT tags.floor AS f, COUNT() AS n FROM devices GROUP BY tags.floor")
	rows, err := q.Rows(f.devices)
	require.NoError(t, err)
	require.Len(t, rows, 7)
	assert.NotContains(t, rows[0], "f", "devices without a floor come first")
	for i := 1; i < len(rows); i++ {
		assert.Equal(t, float64(i-1), rows[i]["f"])
	}
}
