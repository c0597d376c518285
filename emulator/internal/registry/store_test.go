package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
)

func requireCode(t *testing.T, err error, code iothub.ErrorCode) {
	t.Helper()
	var he *iothub.Error
	require.True(t, errors.As(err, &he), "error %v is not an *iothub.Error", err)
	require.Equal(t, code, he.Code, "%v", err)
}

func mustPutDevice(t *testing.T, s *Store, id string) Device {
	t.Helper()
	d, created, err := s.PutDevice(DeviceSpec{DeviceID: id}, "")
	require.NoError(t, err)
	require.True(t, created)
	return d
}

func TestScanOrderAndPaging(t *testing.T) {
	t.Parallel()
	s := New(nil)
	ids := []string{"b", "a", "c-1", "c", "A", "z9", "m"}
	for _, id := range ids {
		mustPutDevice(t, s, id)
	}
	scan := func(after string, limit int) []string {
		var got []string
		s.Scan(after, func(key string, doc map[string]any) bool {
			assert.Equal(t, key, doc["deviceId"])
			got = append(got, key)
			return len(got) < limit
		})
		return got
	}
	assert.Equal(t, []string{"A", "a", "b", "c", "c-1", "m", "z9"}, scan("", 100))
	assert.Equal(t, []string{"A", "a", "b"}, scan("", 3))
	assert.Equal(t, []string{"c", "c-1", "m"}, scan("b", 3), "a page resumes after the last key")
	assert.Equal(t, []string{"c-1", "m", "z9"}, scan("c-0", 100), "after need not be a key")
	assert.Empty(t, scan("z9", 100))

	// Pages stay stable when keys before the cursor are deleted.
	require.NoError(t, s.DeleteDevice("a", ""))
	assert.Equal(t, []string{"c", "c-1"}, scan("b", 2))
}

func TestScanManyBatches(t *testing.T) {
	t.Parallel()
	s := New(nil)
	const n = 3*scanBatch + 7
	for i := range n {
		mustPutDevice(t, s, fmt.Sprintf("d%04d", i))
	}
	var got []string
	s.Scan("", func(key string, _ map[string]any) bool { got = append(got, key); return true })
	require.Len(t, got, n)
	for i, k := range got {
		assert.Equal(t, fmt.Sprintf("d%04d", i), k)
	}
}

func TestScanModules(t *testing.T) {
	t.Parallel()
	s := New(nil)
	for _, d := range []string{"d2", "d1", "d1-x"} {
		mustPutDevice(t, s, d)
	}
	for _, m := range [][2]string{{"d2", "a"}, {"d1", "z"}, {"d1", "b"}, {"d1-x", "a"}} {
		_, _, err := s.PutModule(ModuleSpec{DeviceID: m[0], ModuleID: m[1]}, "")
		require.NoError(t, err)
	}
	var got [][2]string
	s.ScanModules("", func(key string, doc map[string]any) bool {
		d, m := SplitModuleKey(key)
		assert.Equal(t, d, doc["deviceId"])
		assert.Equal(t, m, doc["moduleId"])
		got = append(got, [2]string{d, m})
		return true
	})
	assert.Equal(t, [][2]string{{"d1", "b"}, {"d1", "z"}, {"d1-x", "a"}, {"d2", "a"}}, got, "ordered by device id, then module id")

	var after []string
	s.ScanModules(ModuleKey("d1", "z"), func(key string, _ map[string]any) bool { after = append(after, key); return true })
	assert.Equal(t, []string{ModuleKey("d1-x", "a"), ModuleKey("d2", "a")}, after)

	require.NoError(t, s.DeleteDevice("d1", ""))
	var left []string
	s.ScanModules("", func(key string, _ map[string]any) bool { left = append(left, key); return true })
	assert.Equal(t, []string{ModuleKey("d1-x", "a"), ModuleKey("d2", "a")}, left, "a deleted device takes its modules along")
}

func TestConnectionStateAndSession(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	s := New(&Options{Now: func() time.Time { return now }})
	mustPutDevice(t, s, "d1")
	mustPutDevice(t, s, "d2")
	_, _, err := s.PutModule(ModuleSpec{DeviceID: "d1", ModuleID: "m1"}, "")
	require.NoError(t, err)

	require.NoError(t, s.SetConnectionState("d1", "", true))
	require.NoError(t, s.SetConnectionState("d1", "", true)) // idempotent
	require.NoError(t, s.SetConnectionState("d1", "m1", true))
	assert.EqualValues(t, 1, s.ConnectedDeviceCount())
	d, err := s.GetDevice("d1")
	require.NoError(t, err)
	assert.Equal(t, Connected, d.ConnectionState)
	assert.Equal(t, now, d.ConnectionStateUpdatedTime)
	assert.Equal(t, "2026-01-02T03:04:05.0000006Z", FormatTime(d.LastActivityTime))
	m, err := s.GetModule("d1", "m1")
	require.NoError(t, err)
	assert.Equal(t, Connected, m.ConnectionState)
	doc, err := s.GetTwin("d1", "")
	require.NoError(t, err)
	assert.Equal(t, Connected, doc["connectionState"])

	require.NoError(t, s.UpdateSession("d1", func(ss *Session) {
		ss.Values = map[string]any{"c2d": []string{"hello"}}
	}))
	requireCode(t, s.UpdateSession("nope", func(*Session) {}), iothub.CodeDeviceNotFound)
	requireCode(t, s.SetConnectionState("nope", "", true), iothub.CodeDeviceNotFound)
	requireCode(t, s.SetConnectionState("d1", "nope", true), iothub.CodeModuleNotFound)

	require.NoError(t, s.DeleteDevice("d1", ""))
	assert.EqualValues(t, 0, s.ConnectedDeviceCount(), "deleting a connected device disconnects it")
	mustPutDevice(t, s, "d1")
	require.NoError(t, s.UpdateSession("d1", func(ss *Session) { assert.Nil(t, ss.Values, "a re-created device starts a new session") }))
}

func TestUpdateReported(t *testing.T) {
	t.Parallel()
	s := New(nil)
	mustPutDevice(t, s, "d1")
	before, err := s.GetTwin("d1", "")
	require.NoError(t, err)
	v, err := s.UpdateReported("d1", "", map[string]any{"fw": "1.0", "net": map[string]any{"type": "wifi"}, "$version": json.Number("7")})
	require.NoError(t, err)
	assert.EqualValues(t, 2, v)
	doc, err := s.GetTwin("d1", "")
	require.NoError(t, err)
	rep := doc["properties"].(map[string]any)["reported"].(map[string]any)
	assert.Equal(t, "1.0", rep["fw"])
	assert.EqualValues(t, 2, rep["$version"])
	meta := rep["$metadata"].(map[string]any)
	assert.NotContains(t, meta["fw"], "$lastUpdatedVersion", "reported metadata has no $lastUpdatedVersion")
	assert.Contains(t, meta["net"].(map[string]any), "type")
	assert.NotEqual(t, before["etag"], doc["etag"])
	assert.EqualValues(t, 2, doc["version"])

	_, err = s.UpdateReported("d1", "", map[string]any{"a.b": 1})
	requireCode(t, err, iothub.CodeArgumentInvalid)
	_, err = s.UpdateReported("d1", "", map[string]any{"big": strings.Repeat("x", 4000), "big2": strings.Repeat("x", 4000),
		"b3": strings.Repeat("x", 4000), "b4": strings.Repeat("x", 4000), "b5": strings.Repeat("x", 4000), "b6": strings.Repeat("x", 4000),
		"b7": strings.Repeat("x", 4000), "b8": strings.Repeat("x", 4000), "b9": strings.Repeat("x", 4000)})
	requireCode(t, err, iothub.CodeArgumentInvalid)
}

func TestSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want int
	}{
		{map[string]any{"ab": "cde"}, 5},
		{map[string]any{"n": json.Number("12345678901")}, 9},
		{map[string]any{"b": true}, 5},
		{map[string]any{"x": nil}, 1},
		{map[string]any{"o": map[string]any{"k": "v"}}, 3},
		{map[string]any{"a": []any{"xy", json.Number("1")}}, 11},
		{map[string]any{"é": "\u0001ü"}, 2}, // characters, control characters excluded
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, Size(tc.v), "%v", tc.v)
	}
}

func TestUpdateKeepsAuthenticationWhenNoneIsNamed(t *testing.T) {
	t.Parallel()
	s := New(nil)
	tp := "0123456789ABCDEF0123456789ABCDEF01234567"
	d, _, err := s.PutDevice(DeviceSpec{DeviceID: "d1", Auth: &Auth{Type: AuthSelfSigned, PrimaryThumbprint: tp}}, "")
	require.NoError(t, err)
	u, _, err := s.PutDevice(DeviceSpec{DeviceID: "d1", Status: StatusDisabled}, "*")
	require.NoError(t, err)
	assert.Equal(t, d.Auth, u.Auth)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := New(nil)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				_, _, err := s.PutDevice(DeviceSpec{DeviceID: id}, "")
				assert.NoError(t, err)
				_, err = s.UpdateTwin(id, "", TwinPatch{Tags: map[string]any{"i": json.Number(fmt.Sprint(i))}}, "")
				assert.NoError(t, err)
				s.Scan("", func(string, map[string]any) bool { return false })
				_ = s.Statistics()
				if i%2 == 0 {
					assert.NoError(t, s.DeleteDevice(id, ""))
				}
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, workers*each/2, s.Statistics().TotalDeviceCount)
	n := 0
	s.Scan("", func(string, map[string]any) bool { n++; return true })
	assert.Equal(t, workers*each/2, n)
}

func TestEdgeDeviceScope(t *testing.T) {
	t.Parallel()
	s := New(nil)
	d, _, err := s.PutDevice(DeviceSpec{DeviceID: "edge", IotEdge: true, DeviceScope: "ignored"}, "")
	require.NoError(t, err)
	assert.Equal(t, "ms-azure-iot-edge://edge-"+d.GenerationID, d.DeviceScope)
	u, _, err := s.PutDevice(DeviceSpec{DeviceID: "edge", IotEdge: true, DeviceScope: "other"}, "*")
	require.NoError(t, err)
	assert.Equal(t, d.DeviceScope, u.DeviceScope, "an edge device's scope is immutable")

	leaf, _, err := s.PutDevice(DeviceSpec{DeviceID: "leaf", DeviceScope: d.DeviceScope, ParentScopes: []string{d.DeviceScope}}, "")
	require.NoError(t, err)
	assert.Equal(t, d.DeviceScope, leaf.DeviceScope)
	assert.Equal(t, []string{d.DeviceScope}, leaf.ParentScopes)
}

func TestTouch(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New(&Options{Now: func() time.Time { return now }})
	mustPutDevice(t, s, "d1")
	_, _, err := s.PutModule(ModuleSpec{DeviceID: "d1", ModuleID: "m1"}, "")
	require.NoError(t, err)
	require.NoError(t, s.Touch("d1", ""))
	require.NoError(t, s.Touch("d1", "m1"))
	d, err := s.GetDevice("d1")
	require.NoError(t, err)
	assert.Equal(t, now, d.LastActivityTime)
	assert.Equal(t, Disconnected, d.ConnectionState, "activity alone does not connect")
	m, err := s.GetModule("d1", "m1")
	require.NoError(t, err)
	assert.Equal(t, now, m.LastActivityTime)
	requireCode(t, s.Touch("nope", ""), iothub.CodeDeviceNotFound)
	requireCode(t, s.Touch("d1", "nope"), iothub.CodeModuleNotFound)
}

// TestTouchResolution: activity within activityResolution of the recorded
// time leaves it as it is; later activity, or a clock that went back,
// records the new time.
func TestTouchResolution(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := start
	s := New(&Options{Now: func() time.Time { return now }})
	mustPutDevice(t, s, "d1")
	_, _, err := s.PutModule(ModuleSpec{DeviceID: "d1", ModuleID: "m1"}, "")
	require.NoError(t, err)
	last := func(module string) time.Time {
		t.Helper()
		if module == "" {
			d, err := s.GetDevice("d1")
			require.NoError(t, err)
			return d.LastActivityTime
		}
		m, err := s.GetModule("d1", module)
		require.NoError(t, err)
		return m.LastActivityTime
	}
	for _, module := range []string{"", "m1"} {
		now = start
		require.NoError(t, s.Touch("d1", module))
		now = start.Add(activityResolution - time.Millisecond)
		require.NoError(t, s.Touch("d1", module))
		assert.Equal(t, start, last(module), "module %q: within the resolution", module)
		now = start.Add(activityResolution)
		require.NoError(t, s.Touch("d1", module))
		assert.Equal(t, now, last(module), "module %q: past the resolution", module)
		now = start
		require.NoError(t, s.Touch("d1", module))
		assert.Equal(t, start, last(module), "module %q: the clock went back", module)
	}
}
