package core

import (
	"fmt"
	"testing"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// BenchmarkQuerySelective runs a query that matches 100 of n twins over
// the registry itself (documents built from its records, as the REST API
// serves them) and reports µs per twin scanned.
func BenchmarkQuerySelective(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("twins=%d", n), func(b *testing.B) {
			h, err := Open(nil)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			ops := make([]registry.ImportOp, 0, registry.MaxBulkOperations)
			for i := range n {
				floor := i % (n / 100)
				ops = append(ops, registry.ImportOp{DeviceID: fmt.Sprintf("dev-%07d", i), Mode: registry.ModeCreate,
					Twin: registry.TwinPatch{Tags: map[string]any{"building": "43", "floor": floor}, Desired: map[string]any{"interval": 30}}})
				if len(ops) == cap(ops) {
					if _, err := h.store.Bulk(ops); err != nil {
						b.Fatal(err)
					}
					ops = ops[:0]
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tok := ""
				rows := 0
				for {
					_, page, err := h.QueryTwins("SELECT * FROM devices WHERE tags.floor = 7", tok, 1000)
					if err != nil {
						b.Fatal(err)
					}
					rows += len(page.Items)
					if tok = page.Continuation; tok == "" {
						break
					}
				}
				if rows != 100 {
					b.Fatalf("%d rows, want 100", rows)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/twin")
		})
	}
}
