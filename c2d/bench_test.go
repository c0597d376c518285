package c2d_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
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
			completeAll(ctx, connect(b, e, "d1"))
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

// BenchmarkSendBare is BenchmarkSend's sequential case with a bare
// go-amqp sender on one link (SASL PLAIN, a message-id per message, the
// to property, each send awaiting its disposition): the floor of what a
// C2D client built on go-amqp costs, for comparison with the Client. The
// emulator and the device are the same, so the difference in ns/op and
// allocs/op is the clients'.
func BenchmarkSendBare(b *testing.B) {
	e, _ := newHub(b, devices("d1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	completeAll(ctx, connect(b, e, "d1"))
	var key string
	for _, p := range e.Policies() {
		if p.Name == "iothubowner" {
			key = p.PrimaryKey
		}
	}
	tok, err := auth.SignSAS(e.HostName(), "iothubowner", key, time.Now().Add(time.Hour))
	require.NoError(b, err)
	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("iothubowner@sas.root."+e.HubName(), tok)})
	require.NoError(b, err)
	defer conn.Close()
	s, err := conn.NewSession(ctx, nil)
	require.NoError(b, err)
	snd, err := s.NewSender(ctx, "/messages/devicebound", nil)
	require.NoError(b, err)
	body := make([]byte, 256)
	to := "/devices/d1/messages/devicebound"
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		for {
			err := snd.Send(ctx, &amqp.Message{Data: [][]byte{body}, Properties: &amqp.MessageProperties{MessageID: strconv.Itoa(i), To: &to}}, nil)
			if err == nil {
				break
			}
			var ae *amqp.Error
			if !errors.As(err, &ae) || ae.Condition != amqp.ErrCondResourceLimitExceeded {
				b.Fatal(err)
			}
			time.Sleep(time.Millisecond) // the device's queue holds 50: wait for it to drain
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// completeAll completes every C2D message of dev until ctx ends.
func completeAll(ctx context.Context, dev *emulator.SimulatedDevice) {
	go func() {
		for {
			m, err := dev.ReceiveC2D(ctx)
			if err != nil {
				return
			}
			_ = m.Complete(ctx)
		}
	}()
}
