package core

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/query"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// plainStore hides the registry's ScanMatching: the engine then builds
// every document and tests it, the reference the views must agree with.
type plainStore struct{ s query.Store }

func (p plainStore) Scan(after string, fn func(string, map[string]any) bool) { p.s.Scan(after, fn) }

// TestQueryViewsAgree runs queries over twins of every shape both ways —
// the WHERE clause on the registry's views, and on fully built documents
// — and requires the same pages.
func TestQueryViewsAgree(t *testing.T) {
	t.Parallel()
	h, err := Open(nil)
	require.NoError(t, err)
	defer h.Close()
	var ops []registry.ImportOp
	for i := range 300 {
		op := registry.ImportOp{DeviceID: fmt.Sprintf("d-%03d", i), Mode: registry.ModeCreate, IotEdge: i%7 == 0}
		if i%3 != 0 {
			op.Twin.Tags = map[string]any{"floor": i % 10, "building": fmt.Sprint("b", i%4), "nested": map[string]any{"x": i % 5}}
		}
		if i%2 == 0 {
			op.Twin.Desired = map[string]any{"interval": i % 6, "mode": "eco"}
		}
		if i%11 == 0 {
			op.Status = registry.StatusDisabled
		}
		ops = append(ops, op)
		if len(ops) == registry.MaxBulkOperations {
			_, err := h.store.Bulk(ops)
			require.NoError(t, err)
			ops = ops[:0]
		}
	}
	if len(ops) > 0 {
		_, err = h.store.Bulk(ops)
		require.NoError(t, err)
	}
	for i := range 40 {
		_, err := h.store.UpdateReported(fmt.Sprintf("d-%03d", i), "", map[string]any{"fw": json.Number(fmt.Sprint(i % 3))})
		require.NoError(t, err)
	}
	for _, text := range []string{
		"SELECT * FROM devices WHERE tags.floor = 7",
		"SELECT deviceId FROM devices WHERE tags.floor > 3 AND tags.building IN ['b1', 'b2']",
		"SELECT * FROM devices WHERE properties.desired.interval = 2 OR properties.reported.fw = 1",
		"SELECT * FROM devices WHERE NOT IS_DEFINED(tags.floor)",
		"SELECT * FROM devices WHERE capabilities.iotEdge = true",
		"SELECT * FROM devices WHERE status = 'disabled'",
		"SELECT * FROM devices WHERE STARTSWITH(deviceId, 'd-1') AND tags.nested.x < 2",
		"SELECT * FROM devices WHERE IS_OBJECT(properties.desired)",
		"SELECT * FROM devices WHERE properties.desired.$version > 1",
		"SELECT * FROM devices WHERE IS_DEFINED(properties.reported.$metadata.fw)",
		"SELECT * FROM devices WHERE x509Thumbprint.primaryThumbprint = null AND version > 1",
		"SELECT tags.building AS b, COUNT() AS n FROM devices WHERE tags.floor >= 5 GROUP BY tags.building",
	} {
		q, err := query.Parse(text)
		require.NoError(t, err, text)
		for _, size := range []int{7, 1000} {
			var viaViews, viaDocs []string
			for _, run := range []struct {
				store query.Store
				out   *[]string
			}{{h.store, &viaViews}, {plainStore{h.store}, &viaDocs}} {
				tok := ""
				for {
					page, err := h.queries.Page(q, run.store, tok, size)
					require.NoError(t, err, text)
					for _, it := range page.Items {
						*run.out = append(*run.out, string(it))
					}
					if tok = page.Continuation; tok == "" {
						break
					}
				}
			}
			assert.Equal(t, viaDocs, viaViews, "%s (pages of %d)", text, size)
			assert.NotEmpty(t, viaDocs, text)
		}
	}
}
