package twin

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCollection(t *testing.T) {
	t.Parallel()
	var c Collection
	require.NoError(t, json.Unmarshal([]byte(`{
		"fan": {"speed": 3},
		"$metadata": {"$lastUpdated": "2026-01-02T03:04:05.1234567Z", "fan": {"$lastUpdated": "2026-01-02T03:04:06Z", "speed": {"$lastUpdated": "2026-01-02T03:04:07Z"}}},
		"$version": 7}`), &c))
	assert.Equal(t, int64(7), c.Version())
	ts, ok := c.LastUpdated()
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 123456700, time.UTC), ts)
	ts, ok = c.LastUpdated("fan", "speed")
	require.True(t, ok)
	assert.Equal(t, 7, ts.Second())
	_, ok = c.LastUpdated("nope")
	assert.False(t, ok)
	v, ok := c.Get("fan", "speed")
	require.True(t, ok)
	assert.Equal(t, 3.0, v)
	_, ok = c.Get("fan", "speed", "deeper")
	assert.False(t, ok)
	assert.Equal(t, int64(0), Collection{}.Version())
}

func TestPatchWireForm(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(&Patch{Tags: map[string]any{"floor": 3, "old": nil}, Desired: map[string]any{"fan": true}, ETag: "x"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"tags":{"floor":3,"old":null},"properties":{"desired":{"fan":true}}}`, string(b))
	b, err = json.Marshal(&Patch{Tags: map[string]any{"a": 1}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"tags":{"a":1}}`, string(b))
}

func TestWithoutSystemKeys(t *testing.T) {
	t.Parallel()
	got := withoutSystemKeys(Collection{"a": 1, "$version": 3, "$metadata": map[string]any{}})
	assert.Equal(t, Collection{"a": 1}, got)
}
