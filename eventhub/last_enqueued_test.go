package eventhub_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// TestReceiverTracksLastEnqueued: with TrackLastEnqueued every batch
// brings where the partition ends, matching the partition's properties;
// without it there is nothing to report.
func TestReceiverTracksLastEnqueued(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	ctx := timeout(t, 20*time.Second)
	h.send(t, 1, 10)
	c := newConsumer(t, h.ConnectionString(), nil)
	props, err := c.PartitionProperties(ctx, "1")
	require.NoError(t, err)

	r, err := c.NewPartitionReceiver("1", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}, TrackLastEnqueued: true})
	require.NoError(t, err)
	defer r.Close(ctx)
	_, ok := r.LastEnqueued()
	assert.False(t, ok, "nothing is known before the first event")
	evs := receiveN(t, ctx, r, 3)
	le, ok := r.LastEnqueued()
	require.True(t, ok)
	assert.Equal(t, props.LastEnqueuedSequenceNumber, le.SequenceNumber)
	assert.Equal(t, int64(9), le.SequenceNumber)
	assert.Equal(t, props.LastEnqueuedOffset, le.Offset)
	assert.True(t, props.LastEnqueuedTime.Equal(le.EnqueuedTime), "%v vs %v", props.LastEnqueuedTime, le.EnqueuedTime)
	assert.False(t, le.RetrievedAt.IsZero())
	assert.False(t, le.RetrievedAt.After(time.Now().Add(time.Second)))
	assert.Equal(t, int64(7), le.Lag(evs[2]))
	assert.Equal(t, int64(0), le.Lag(nil))

	// Newer events move the figures on.
	h.send(t, 1, 5)
	evs = receiveN(t, ctx, r, 12)
	le, _ = r.LastEnqueued()
	assert.Equal(t, int64(14), le.SequenceNumber)
	assert.Equal(t, int64(0), le.Lag(evs[len(evs)-1]))

	plain, err := c.NewPartitionReceiver("1", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
	require.NoError(t, err)
	defer plain.Close(ctx)
	receiveN(t, ctx, plain, 3)
	_, ok = plain.LastEnqueued()
	assert.False(t, ok, "not tracked unless asked")
}

// TestProcessorTracksLastEnqueued: a handler sees how far behind it is.
func TestProcessorTracksLastEnqueued(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 1)
	ctx := timeout(t, 20*time.Second)
	h.send(t, 0, 50)
	var lagSeen atomic.Int64
	lagSeen.Store(-1)
	done := make(chan struct{})
	var handled atomic.Int64
	startProcessor(t, h, checkpoints.NewMemoryStore(), &eventhub.ProcessorOptions{TrackLastEnqueued: true, MaxBatchSize: 10},
		eventhub.HandlerFunc(func(_ context.Context, pc *eventhub.PartitionContext, evs []*eventhub.Event) error {
			le, ok := pc.LastEnqueued()
			if !ok {
				return nil
			}
			if le.SequenceNumber != 49 {
				t.Errorf("last enqueued sequence number %d, want 49", le.SequenceNumber)
			}
			if lagSeen.Load() < 0 {
				lagSeen.Store(le.Lag(evs[0]))
			}
			if handled.Add(int64(len(evs))) == 50 {
				close(done)
			}
			return nil
		}))
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("handled %d of 50 events", handled.Load())
	}
	assert.Equal(t, int64(49), lagSeen.Load(), "the first batch starts 49 events behind")
}
