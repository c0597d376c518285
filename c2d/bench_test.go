package c2d_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/c2d"
)

// BenchmarkSend measures sends to a device whose simulated connection
// completes every message: one sender awaiting each send, and 64 concurrent
// senders sharing the client's link.
func BenchmarkSend(b *testing.B) {
	for _, senders := range []int{1, 64} {
		name := "sequential"
		if senders > 1 {
			name = "concurrent-64"
		}
		b.Run(name, func(b *testing.B) {
			e, c := newHub(b, devices("d1"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dev := connect(b, e, "d1")
			go func() {
				for {
					m, err := dev.ReceiveC2D(ctx)
					if err != nil {
						return
					}
					_ = m.Complete(ctx)
				}
			}()
			body := make([]byte, 256)
			require.NoError(b, c.Send(ctx, "d1", &c2d.Message{Body: body})) // open the link
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := b.N / senders
			for s := range senders {
				n := per
				if s == 0 {
					n += b.N % senders
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range n {
						for {
							err := c.Send(ctx, "d1", &c2d.Message{Body: body})
							if err == nil {
								break
							}
							// The device's queue holds 50: wait for it to drain.
							time.Sleep(time.Millisecond)
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
