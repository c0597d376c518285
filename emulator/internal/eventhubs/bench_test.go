package eventhubs

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
	"github.com/stretchr/testify/require"
)

// BenchmarkAppend measures ingest: 1 KB events from 100 devices appended
// to a 4-partition hub, with their annotations encoded once.
func BenchmarkAppend(b *testing.B) {
	h := New(&Options{MaxBytes: -1})
	defer h.Close()
	body := make([]byte, 1024)
	devices := make([]string, 100)
	for i := range devices {
		devices[i] = fmt.Sprintf("device-%d", i)
	}
	props := map[string]any{"temperatureAlert": "false"}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, _, err := h.Append(ctx, Event{DeviceID: devices[i%len(devices)], Body: body, Properties: props, MessageID: "m"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkAppendDurable measures ingest with and without a state
// directory: 1 KB events from 100 devices into a 4-partition hub, from one
// appender and from several. With a DB every Append waits for its fsync;
// group commit lets concurrent appenders share one.
func BenchmarkAppendDurable(b *testing.B) {
	for _, withDB := range []bool{false, true} {
		for _, appenders := range []int{1, 16} {
			b.Run(fmt.Sprintf("db=%t/appenders=%d", withDB, appenders), func(b *testing.B) {
				var db *persist.DB
				if withDB {
					var err error
					db, err = persist.Open(b.TempDir(), nil)
					require.NoError(b, err)
					defer db.Close()
				}
				h, err := Open(&Options{MaxBytes: -1, DB: db})
				require.NoError(b, err)
				defer h.Close()
				body := make([]byte, 1024)
				devices := make([]string, 100)
				for i := range devices {
					devices[i] = fmt.Sprintf("device-%d", i)
				}
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for range appenders {
					wg.Go(func() {
						for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
							if _, _, err := h.Append(ctx, Event{DeviceID: devices[i%int64(len(devices))], Body: body}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkDeliver measures delivery: b.N stored 1 KB events read from the
// earliest position by one go-amqp receiver per partition (4 partitions,
// credit 300 as azeventhubs' default prefetch), on one connection.
func BenchmarkDeliver(b *testing.B) {
	e := newEnv(b, &Options{MaxBytes: -1, Now: time.Now})
	body := make([]byte, 1024)
	ids := e.hub.PartitionIDs()
	devices := make([]string, len(ids))
	for i, pid := range ids {
		devices[i] = deviceFor(e.hub, pid)
	}
	ctx := context.Background()
	for i := range b.N {
		if _, _, err := e.hub.Append(ctx, Event{DeviceID: devices[i%len(devices)], Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	s := e.session(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, pid := range ids {
		want := b.N / len(ids)
		if i < b.N%len(ids) {
			want++
		}
		r, err := s.NewReceiver(testCtx(b), partitionAddr("myhub", "$Default", pid), receiverOpts("", nil, 300))
		require.NoError(b, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range want {
				if _, err := r.Receive(ctx, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// TestMemoryPerEvent checks that 100k stored 1 KB events cost little more
// than their encoded size.
func TestMemoryPerEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 100 MB")
	}
	const n = 100_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h := New(&Options{MaxBytes: -1})
	body := make([]byte, 1024)
	for i := range n {
		_, _, err := h.Append(context.Background(), Event{DeviceID: fmt.Sprintf("d%d", i%50), Body: body})
		require.NoError(t, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	var stored int64
	for _, p := range h.partitions {
		stored += p.bytes
	}
	perEvent := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d events: %.0f bytes of heap per event, %.0f encoded", n, perEvent, float64(stored)/n)
	require.Less(t, perEvent, 1.6*float64(stored)/n, "heap per event stays near the encoded size")
	runtime.KeepAlive(h)
	require.NoError(t, h.Close())
}
