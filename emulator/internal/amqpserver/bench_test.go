package amqpserver

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
	"github.com/stretchr/testify/require"
)

// BenchmarkTransfer measures 1 KB messages from a go-amqp sender through the
// engine, into a sink node and, for "relay", on to a go-amqp receiver.
func BenchmarkTransfer(b *testing.B) {
	for _, bc := range []struct {
		name    string
		mode    amqp.SenderSettleMode
		relay   bool
		senders int
	}{
		{"sink/settled", amqp.SenderSettleModeSettled, false, 1},
		{"sink/unsettled", amqp.SenderSettleModeUnsettled, false, 128},
		{"relay/settled", amqp.SenderSettleModeSettled, true, 1},
		{"relay/unsettled", amqp.SenderSettleModeUnsettled, true, 128},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchTransfer(b, bc.mode, bc.relay, bc.senders)
		})
	}
}

func benchTransfer(b *testing.B, mode amqp.SenderSettleMode, relay bool, senders int) {
	ts := newTestServer(b, &ServerOptions{LinkCredit: 5000, SessionWindow: 20000})
	var received atomic.Int64
	msgs := make(chan *amqp.Message, 1<<16)
	require.NoError(b, ts.Handle("bench", &Node{
		Incoming: func(l *IncomingLink) (MessageHandler, error) {
			return func(d *Delivery) Outcome {
				received.Add(1)
				if relay {
					msgs <- d.Message
				}
				return Accepted{}
			}, nil
		},
		Outgoing: func(l *OutgoingLink) error {
			l.Go(func(context.Context) {
				for {
					select {
					case <-l.Context().Done():
						return
					case m := <-msgs:
						if _, err := l.Send(l.Context(), m, nil); err != nil {
							return
						}
					}
				}
			})
			return nil
		},
	}))
	ctx := context.Background()
	conn := ts.dial(b, nil)
	s, err := conn.NewSession(ctx, &amqp.SessionOptions{MaxLinks: 16})
	require.NoError(b, err)
	snd, err := s.NewSender(ctx, "bench", &amqp.SenderOptions{SettlementMode: &mode})
	require.NoError(b, err)
	var rcv *amqp.Receiver
	if relay {
		rs := ts.session(b, nil)
		rcv, err = rs.NewReceiver(ctx, "bench", &amqp.ReceiverOptions{Credit: 5000, RequestedSenderSettleMode: &mode})
		require.NoError(b, err)
	}
	body := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()

	var wg sync.WaitGroup
	var next atomic.Int64
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := snd.Send(ctx, amqp.NewMessage(body), nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	if relay {
		for i := 0; i < b.N; i++ {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if mode == amqp.SenderSettleModeUnsettled {
				if err := rcv.AcceptMessage(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	wg.Wait()
	if !relay {
		// Settled sends return before the server handles them; wait for the sink.
		for received.Load() < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkEngineTransfer measures the engine alone: a raw client writes
// pre-encoded 1 KB transfers in large batches (go-amqp writes one frame per
// system call, which dominates BenchmarkTransfer) into a sink node.
func BenchmarkEngineTransfer(b *testing.B) {
	for _, settled := range []bool{true, false} {
		name := "unsettled"
		if settled {
			name = "settled"
		}
		b.Run(name, func(b *testing.B) { benchEngine(b, settled) })
	}
}

func benchEngine(b *testing.B, settled bool) {
	ts := newTestServer(b, &ServerOptions{LinkCredit: 1 << 20, SessionWindow: 1 << 20})
	var received atomic.Int64
	require.NoError(b, ts.Handle("sink", &Node{Incoming: func(l *IncomingLink) (MessageHandler, error) {
		return func(*Delivery) Outcome {
			received.Add(1)
			return Accepted{}
		}, nil
	}}))
	rc := ts.raw(b)
	rc.nc.SetDeadline(time.Time{})
	rc.open(&encoding.Open{ContainerID: "bench", MaxFrameSize: 65536})
	rc.frame(0, 0, &encoding.Begin{IncomingWindow: 1 << 20, OutgoingWindow: 1 << 30, HandleMax: 1}, nil)
	rc.readFrame()
	rc.frame(0, 0, &encoding.Attach{Name: "bench", Role: encoding.RoleSender, Target: &encoding.Target{Address: "sink"}}, nil)
	rc.readFrame()
	rc.readFrame()
	go func() { _, _ = io.Copy(io.Discard, rc.nc) }()

	payload, err := amqp.NewMessage(make([]byte, 1024)).MarshalBinary()
	require.NoError(b, err)
	var w encoding.Writer
	b.ReportAllocs()
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		tag := [4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		_ = encoding.AppendFrame(&w, 0, 0, &encoding.Transfer{
			DeliveryID: uint32(i), HasDeliveryID: true, DeliveryTag: tag[:], Settled: settled, HasSettled: true,
		}, payload)
		if len(w.B) > 256<<10 || i == b.N-1 {
			rc.write(w.B)
			w.B = w.B[:0]
		}
	}
	for received.Load() < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
