package core

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// BenchmarkRegistryScale fills a hub with 10,000, 100,000 and 1,000,000
// devices (ids in random order, each with two tags and a desired
// property, in bulk calls of 100) and reports how cost grows: create
// devices/s, the heap they hold (MB, after a collection), a query that
// selects 100 of them (ms), and GetDevice's p50 and p99 (µs) over 10,000
// random ids. One round per size: run with -benchtime 1x.
func BenchmarkRegistryScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			for range b.N {
				scaleRound(b, n)
			}
		})
	}
}

func scaleRound(b *testing.B, n int) {
	b.StopTimer()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%07d", i)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	h, err := Open(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.StartTimer()

	start := time.Now()
	ops := make([]registry.ImportOp, 0, registry.MaxBulkOperations)
	for i, id := range ids {
		ops = append(ops, registry.ImportOp{DeviceID: id, Mode: registry.ModeCreate,
			Twin: registry.TwinPatch{Tags: map[string]any{"building": "43", "floor": i % (n / 100)}, Desired: map[string]any{"interval": 30}}})
		if len(ops) == cap(ops) {
			if _, err := h.store.Bulk(ops); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	created := time.Since(start)

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	start = time.Now()
	_, page, err := h.QueryTwins("SELECT deviceId FROM devices WHERE tags.floor = 7", "", 1000)
	if err != nil {
		b.Fatal(err)
	}
	queried := time.Since(start)
	if len(page.Items) != 100 {
		b.Fatalf("%d rows, want 100", len(page.Items))
	}

	lat := make([]time.Duration, 10_000)
	for i := range lat {
		id := ids[rng.IntN(n)]
		t := time.Now()
		if _, err := h.store.GetDevice(id); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t)
	}
	slices.Sort(lat)
	b.StopTimer()

	b.ReportMetric(float64(n)/created.Seconds(), "create-devices/s")
	b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/(1<<20), "heap-MB")
	b.ReportMetric(float64(queried.Microseconds())/1000, "query-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "get-p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "get-p99-µs")
	runtime.KeepAlive(h)
}
