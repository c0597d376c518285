package registry

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

func openDB(t *testing.T, dir string) *persist.DB {
	t.Helper()
	db, err := persist.Open(dir, nil)
	require.NoError(t, err)
	return db
}

// snapshot is everything a client can see of the store.
func snapshot(t *testing.T, s *Store) map[string]any {
	t.Helper()
	out := map[string]any{"stats": s.Statistics()}
	for _, d := range s.ListDevices(1000) {
		out["device/"+d.DeviceID] = d
		twin, err := s.GetTwin(d.DeviceID, "")
		require.NoError(t, err)
		out["twin/"+d.DeviceID] = twin
		mods, err := s.ListModules(d.DeviceID)
		require.NoError(t, err)
		for _, m := range mods {
			out["module/"+d.DeviceID+"/"+m.ModuleID] = m
			mt, err := s.GetTwin(d.DeviceID, m.ModuleID)
			require.NoError(t, err)
			out["mtwin/"+d.DeviceID+"/"+m.ModuleID] = mt
		}
	}
	var scanned []string
	s.ScanModules("", func(key string, _ map[string]any) bool {
		scanned = append(scanned, key)
		return true
	})
	out["scan/modules"] = scanned
	// Through JSON, as clients see it (json.Number and float64 alike).
	raw, err := json.Marshal(out)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(raw, &v))
	return v
}

func TestStoreSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openDB(t, dir)
	s, err := Open(&Options{DB: db})
	require.NoError(t, err)

	mustPutDevice(t, s, "a")
	mustPutDevice(t, s, "gone")
	_, _, err = s.PutDevice(DeviceSpec{DeviceID: "edge-1", IotEdge: true, Status: StatusDisabled, StatusReason: "why"}, "")
	require.NoError(t, err)
	_, _, err = s.PutModule(ModuleSpec{DeviceID: "a", ModuleID: "m1", ManagedBy: "me"}, "")
	require.NoError(t, err)
	_, _, err = s.PutModule(ModuleSpec{DeviceID: "a", ModuleID: "m0"}, "")
	require.NoError(t, err)
	_, err = s.UpdateTwin("a", "", TwinPatch{Tags: map[string]any{"site": "lab", "n": json.Number("12345678901234567890")}, Desired: map[string]any{"cfg": map[string]any{"rate": json.Number("1.50")}}}, "")
	require.NoError(t, err)
	_, err = s.UpdateReported("a", "", map[string]any{"fw": "1.2", "temp": json.Number("21.5")})
	require.NoError(t, err)
	_, err = s.UpdateTwin("a", "m1", TwinPatch{Desired: map[string]any{"x": true}}, "")
	require.NoError(t, err)
	res, err := s.Bulk([]ImportOp{{DeviceID: "b1", Mode: ModeCreate}, {DeviceID: "b2", Mode: ModeCreate}, {DeviceID: "a", Mode: ModeCreate}})
	require.NoError(t, err)
	require.Len(t, res.Errors, 1, "the duplicate fails, the others stay")
	require.NoError(t, s.DeleteDevice("gone", ""))
	require.NoError(t, s.DeleteModule("a", "m0", ""))
	require.NoError(t, s.SetConnectionState("a", "", true))
	before := snapshot(t, s)
	oldETag := before["device/a"].(map[string]any)["ETag"]
	require.NoError(t, db.Close())

	db = openDB(t, dir)
	defer db.Close()
	s2, err := Open(&Options{DB: db})
	require.NoError(t, err)
	after := snapshot(t, s2)
	// A restart disconnects every device: one that was connected is
	// disconnected since the restart.
	devA := after["device/a"].(map[string]any)
	assert.Equal(t, Disconnected, devA["ConnectionState"])
	assert.NotEqual(t, before["device/a"].(map[string]any)["ConnectionStateUpdatedTime"], devA["ConnectionStateUpdatedTime"])
	for _, doc := range []map[string]any{before["device/a"].(map[string]any), before["twin/a"].(map[string]any)} {
		for _, k := range []string{"ConnectionState", "connectionState"} {
			if _, ok := doc[k]; ok {
				doc[k] = Disconnected
			}
		}
	}
	before["device/a"].(map[string]any)["ConnectionStateUpdatedTime"] = devA["ConnectionStateUpdatedTime"]
	assert.Equal(t, before, after)
	assert.Equal(t, int64(0), s2.ConnectedDeviceCount())
	assert.Equal(t, Statistics{TotalDeviceCount: 4, EnabledDeviceCount: 3, DisabledDeviceCount: 1}, s2.Statistics())
	_, err = s2.GetDevice("gone")
	requireCode(t, err, iothub.CodeDeviceNotFound)

	// ETags and generation ids keep coming from where they stopped.
	d, _, err := s2.PutDevice(DeviceSpec{DeviceID: "a"}, "*")
	require.NoError(t, err)
	assert.NotEqual(t, oldETag, d.ETag)
	for k, v := range before {
		if m, ok := v.(map[string]any); ok && m["ETag"] != nil {
			assert.NotEqual(t, m["ETag"], d.ETag, "new ETag repeats the one of %s", k)
		}
	}
	fresh := mustPutDevice(t, s2, "new")
	assert.NotEqual(t, before["device/b1"].(map[string]any)["GenerationID"], fresh.GenerationID)
}

func TestStoreWithoutDBKeepsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openDB(t, dir)
	s := New(&Options{DB: db}) // New ignores the DB
	mustPutDevice(t, s, "a")
	require.NoError(t, db.Close())
	db = openDB(t, dir)
	defer db.Close()
	s2, err := Open(&Options{DB: db})
	require.NoError(t, err)
	assert.Equal(t, 0, s2.Len())
}

func TestStoreMalformedRecord(t *testing.T) {
	t.Parallel()
	for name, value := range map[string]string{
		"not JSON":          "{",
		"no id":             `{"device":{}}`,
		"another's id":      `{"device":{"DeviceID":"other"}}`,
		"foreign module":    `{"device":{"DeviceID":"d"},"modules":[{"module":{"DeviceID":"x","ModuleID":"m"}}]}`,
		"module without id": `{"device":{"DeviceID":"d"},"modules":[{"module":{"DeviceID":"d"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := openDB(t, dir)
			defer db.Close()
			require.NoError(t, db.Write(persist.Put(bucketDevices, []byte("d"), []byte(value))).Wait(t.Context()))
			_, err := Open(&Options{DB: db})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `"d"`, "the error names the record")
		})
	}
}

// BenchmarkBulkCreatePersisted creates 10,000 devices in bulk calls of
// 100 into an empty store, kept in memory only or also in a state
// directory, and reports devices/s.
func BenchmarkBulkCreatePersisted(b *testing.B) {
	const devices = 10_000
	for _, withDB := range []bool{false, true} {
		name := "memory"
		if withDB {
			name = "state-dir"
		}
		b.Run(name, func(b *testing.B) {
			ops := make([]ImportOp, MaxBulkOperations)
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				b.StopTimer()
				opts := &Options{}
				if withDB {
					db, err := persist.Open(b.TempDir(), nil)
					require.NoError(b, err)
					defer db.Close()
					opts.DB = db
				}
				s, err := Open(opts)
				require.NoError(b, err)
				b.StartTimer()
				for n := 0; n < devices; n += len(ops) {
					for i := range ops {
						ops[i] = ImportOp{DeviceID: fmt.Sprintf("dev-%06d", n+i), Mode: ModeCreate}
					}
					if _, err := s.Bulk(ops); err != nil {
						b.Fatal(err)
					}
				}
				total += devices
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "devices/s")
		})
	}
}
