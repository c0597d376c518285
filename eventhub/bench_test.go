package eventhub_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
	"github.com/iotkit-go/iothub/internal/amqpconn"
)

// preload stores n events of size bytes spread evenly over the hub's
// partitions, and returns how many each partition got.
func preload(b *testing.B, h *testHub, n, size int) []int {
	b.Helper()
	body := make([]byte, size)
	per := make([]int, h.parts)
	for i := range n {
		p := i % h.parts
		require.NoError(b, h.devices[p].SendTelemetry(context.Background(), body, nil))
		per[p]++
	}
	return per
}

// BenchmarkProcessor measures a Processor reading 1 KB events from 4
// partitions with a file store, checkpointing every 1,000 events of a
// partition; one op is one event. Run with -benchtime=200000x for the
// issue's figure.
func BenchmarkProcessor(b *testing.B) {
	b.Run("file", func(b *testing.B) {
		store, err := checkpoints.NewFileStore(b.TempDir())
		require.NoError(b, err)
		benchmarkProcessor(b, store)
	})
	b.Run("memory", func(b *testing.B) { benchmarkProcessor(b, checkpoints.NewMemoryStore()) })
}

func benchmarkProcessor(b *testing.B, store eventhub.CheckpointStore) {
	h := newTestHub(b, 4)
	preload(b, h, b.N, 1024)
	c := newConsumer(b, h.ConnectionString(), nil)
	p, err := eventhub.NewProcessor(c, store, &eventhub.ProcessorOptions{CheckpointEvery: 1000})
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var handled atomic.Int64
	var bytes atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var end atomic.Int64 // when the last event was handled; shutdown is not timed
	var batches atomic.Int64
	err = p.Run(ctx, eventhub.HandlerFunc(func(_ context.Context, _ *eventhub.PartitionContext, evs []*eventhub.Event) error {
		n := 0
		for _, ev := range evs {
			n += len(ev.Body)
		}
		bytes.Add(int64(n))
		batches.Add(1)
		if handled.Add(int64(len(evs))) >= int64(b.N) && end.CompareAndSwap(0, int64(time.Since(start))) {
			cancel()
		}
		return nil
	}))
	elapsed := time.Duration(end.Load())
	b.StopTimer()
	require.NoError(b, err)
	require.GreaterOrEqual(b, handled.Load(), int64(b.N))
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(handled.Load())/float64(batches.Load()), "events/batch")
	b.SetBytes(1024)
}

// BenchmarkPartitionReceivers measures four PartitionReceivers (one per
// partition) reading 1 KB events in batches of 100; one op is one event.
func BenchmarkPartitionReceivers(b *testing.B) {
	h := newTestHub(b, 4)
	per := preload(b, h, b.N, 1024)
	c := newConsumer(b, h.ConnectionString(), nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.NewPartitionReceiver(itoa(int64(p)), &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
			if err != nil {
				b.Error(err)
				return
			}
			defer r.Close(ctx)
			for got := 0; got < per[p]; {
				evs, err := r.Receive(ctx, min(100, per[p]-got))
				if err != nil {
					b.Error(err)
					return
				}
				got += len(evs)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.SetBytes(1024)
}

// BenchmarkBareAMQP is the floor to compare with: go-amqp receivers on the
// four partition addresses, with the same credit (300) and nothing done
// with a message but counting it; one op is one event.
func BenchmarkBareAMQP(b *testing.B) {
	h := newTestHub(b, 4)
	per := preload(b, h, b.N, 1024)
	cs, err := auth.ParseConnectionString(h.EventHubConnectionString())
	require.NoError(b, err)
	cred, err := cs.Credential()
	require.NoError(b, err)
	conn, err := amqpconn.New(amqpconn.Config{HostName: cs.HostName, Credential: cred, PlainTCP: true})
	require.NoError(b, err)
	defer conn.Close()
	ctx := context.Background()
	l, err := conn.Get(ctx)
	require.NoError(b, err)
	require.NoError(b, conn.Claim(ctx, l, "amqp://"+cs.HostName+"/"+cs.EntityPath))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := l.Conn.NewSession(ctx, nil)
			if err != nil {
				b.Error(err)
				return
			}
			defer s.Close(ctx)
			r, err := s.NewReceiver(ctx, cs.EntityPath+"/ConsumerGroups/$Default/Partitions/"+itoa(int64(p)), &amqp.ReceiverOptions{
				Credit:         300,
				SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(),
				Filters:        []amqp.LinkFilter{amqp.NewSelectorFilter("amqp.annotation.x-opt-offset > '-1'")},
			})
			if err != nil {
				b.Error(err)
				return
			}
			for range per[p] {
				if _, err := r.Receive(ctx, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.SetBytes(1024)
}
