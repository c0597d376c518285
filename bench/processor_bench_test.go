package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// BenchmarkEventhubProcessor reads every event with this SDK's Processor
// (greedy balancing, one owner), checkpointing each partition every 1,000
// events into an in-memory store: the same events and the same checkpoint
// rule as BenchmarkAzeventhubsProcessor.
func BenchmarkEventhubProcessor(b *testing.B) {
	h := newBenchHub(b)
	h.measure(b, func(ctx context.Context) error {
		consumer, err := eventhub.NewConsumerFromConnectionString(h.e.EventHubConnectionString(), nil)
		if err != nil {
			return err
		}
		defer consumer.Close(context.Background())
		p, err := eventhub.NewProcessor(consumer, checkpoints.NewMemoryStore(), &eventhub.ProcessorOptions{
			Strategy:        eventhub.StrategyGreedy,
			UpdateInterval:  time.Second,
			CheckpointEvery: benchCheckpointEvery,
		})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		c := &counter{want: int64(h.events), cancel: cancel}
		err = p.Run(ctx, eventhub.HandlerFunc(func(_ context.Context, _ *eventhub.PartitionContext, events []*eventhub.Event) error {
			c.add(len(events))
			return nil
		}))
		if got := c.n.Load(); got < c.want {
			return fmt.Errorf("read %d of %d events: %v", got, c.want, err)
		}
		return nil
	})
}
