package devicebound

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// BenchmarkRoundTrip is one message's life in a queue, Enqueue, Receive
// and Complete, from parallel goroutines on queues of their own: in memory,
// and with a DB, where every step waits for its commit (group commit
// gathers the goroutines' steps into shared fsyncs).
func BenchmarkRoundTrip(b *testing.B) {
	for _, withDB := range []bool{false, true} {
		name := "memory"
		if withDB {
			name = "db"
		}
		b.Run(name, func(b *testing.B) {
			opts := Options{Lookup: func(Key) (string, error) { return "gen", nil }, MaxDepth: 1 << 20}
			if withDB {
				db, err := persist.Open(b.TempDir(), nil)
				require.NoError(b, err)
				defer db.Close()
				opts.DB = db
			}
			h, err := Open(opts)
			require.NoError(b, err)
			defer h.Close()
			body := make([]byte, 256)
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				k := Key{DeviceID: fmt.Sprint("d", next.Add(1))}
				for pb.Next() {
					if err := h.Enqueue(k, &Message{MessageID: "m", Body: body, Ack: AckPositive}, len(body)); err != nil {
						b.Error(err)
						return
					}
					m, err := h.Receive(context.Background(), k)
					if err != nil {
						b.Error(err)
						return
					}
					if err := h.Complete(k, m.LockToken); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
