package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

// sent is what the test sent: bodies by message id.
type sent map[string]string

// sendEach sends n telemetry messages from each device, message ids
// "<device>-<i>", bodies "body <device> <i>".
func sendEach(t *testing.T, devices []*emulator.SimulatedDevice, n int) sent {
	t.Helper()
	out := sent{}
	for i := range n {
		for _, d := range devices {
			id := fmt.Sprintf("%s-%d", d.DeviceID(), i)
			body := fmt.Sprintf("body %s %d", d.DeviceID(), i)
			require.NoError(t, d.SendTelemetry(context.Background(), []byte(body), &emulator.TelemetryOptions{
				MessageID:   id,
				ContentType: "text/plain",
				Properties:  map[string]string{"seq": fmt.Sprint(i)},
			}))
			out[id] = body
		}
	}
	return out
}

// TestConsumerClientProperties: hub and partition properties over
// $management, as azeventhubs reads them.
func TestConsumerClientProperties(t *testing.T) {
	t.Parallel()
	e := startHub(t, 4, deviceIDs(8)...)
	require.Contains(t, e.EventHubConnectionString(), "UseDevelopmentEmulator=true")
	cc := newConsumer(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	hp, err := cc.GetEventHubProperties(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, e.HubName(), hp.Name)
	assert.Equal(t, e.PartitionIDs(), hp.PartitionIDs)
	assert.WithinDuration(t, time.Now(), hp.CreatedOn, time.Minute)

	for _, pid := range hp.PartitionIDs {
		pp, err := cc.GetPartitionProperties(ctx, pid, nil)
		require.NoError(t, err)
		assert.Equal(t, pid, pp.PartitionID)
		assert.Equal(t, e.HubName(), pp.EventHubName)
		assert.True(t, pp.IsEmpty, pid)
	}

	before := time.Now().Add(-time.Second)
	msgs := sendEach(t, connect(t, e, deviceIDs(8)...), 5)
	total := int64(0)
	for _, pid := range hp.PartitionIDs {
		pp, err := cc.GetPartitionProperties(ctx, pid, nil)
		require.NoError(t, err)
		if pp.IsEmpty {
			continue
		}
		assert.Equal(t, int64(0), pp.BeginningSequenceNumber, pid)
		assert.GreaterOrEqual(t, pp.LastEnqueuedSequenceNumber, int64(0), pid)
		assert.NotEmpty(t, pp.LastEnqueuedOffset, pid)
		assert.True(t, pp.LastEnqueuedOn.After(before), pid)
		total += pp.LastEnqueuedSequenceNumber + 1
	}
	assert.Equal(t, int64(len(msgs)), total, "sequence numbers start at 0 in each partition")
}

// receiveAll reads count events from a partition, in one or more calls.
func receiveAll(ctx context.Context, t *testing.T, pc *azeventhubs.PartitionClient, count int) []*azeventhubs.ReceivedEventData {
	t.Helper()
	var out []*azeventhubs.ReceivedEventData
	for len(out) < count {
		evs, err := pc.ReceiveEvents(ctx, count-len(out), nil)
		require.NoError(t, err, "after %d of %d events", len(out), count)
		out = append(out, evs...)
	}
	return out
}

// busiestPartition returns the partition with the most events.
func busiestPartition(ctx context.Context, t *testing.T, cc *azeventhubs.ConsumerClient, e *emulator.Emulator) (string, int) {
	t.Helper()
	best, n := "", -1
	for _, pid := range e.PartitionIDs() {
		pp, err := cc.GetPartitionProperties(ctx, pid, nil)
		require.NoError(t, err)
		if !pp.IsEmpty && int(pp.LastEnqueuedSequenceNumber-pp.BeginningSequenceNumber+1) > n {
			best, n = pid, int(pp.LastEnqueuedSequenceNumber-pp.BeginningSequenceNumber+1)
		}
	}
	require.NotEmpty(t, best)
	return best, n
}

// TestPartitionClientStartPositions reads one partition from the earliest
// event, from an offset and from a sequence number (exclusive and
// inclusive), from an enqueued time and from the latest event.
func TestPartitionClientStartPositions(t *testing.T) {
	t.Parallel()
	e := startHub(t, 4, "dev-a")
	msgs := sendEach(t, connect(t, e, "dev-a"), 10)
	cc := newConsumer(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pid, n := busiestPartition(ctx, t, cc, e)
	require.Equal(t, 10, n, "one device's events share a partition")

	open := func(start azeventhubs.StartPosition) *azeventhubs.PartitionClient {
		pc, err := cc.NewPartitionClient(pid, &azeventhubs.PartitionClientOptions{StartPosition: start})
		require.NoError(t, err)
		t.Cleanup(func() { _ = pc.Close(context.Background()) })
		return pc
	}

	all := receiveAll(ctx, t, open(azeventhubs.StartPosition{Earliest: ptr(true)}), 10)
	for i, ev := range all {
		id := fmt.Sprintf("dev-a-%d", i)
		require.NotNil(t, ev.MessageID)
		assert.Equal(t, id, *ev.MessageID)
		assert.Equal(t, msgs[id], string(ev.Body))
		assert.Equal(t, int64(i), ev.SequenceNumber)
		require.NotNil(t, ev.ContentType)
		assert.Equal(t, "text/plain", *ev.ContentType)
		assert.Equal(t, fmt.Sprint(i), ev.Properties["seq"])
		assert.Equal(t, "dev-a", ev.SystemProperties["iothub-connection-device-id"])
		assert.Equal(t, "Telemetry", ev.SystemProperties["iothub-message-source"])
		require.NotNil(t, ev.EnqueuedTime)
		assert.NotEmpty(t, ev.Offset)
	}

	// At most 5 plain receivers per partition and consumer group: close
	// each when done, as the hub requires.
	from := func(start azeventhubs.StartPosition) int64 {
		pc := open(start)
		defer pc.Close(ctx)
		return receiveAll(ctx, t, pc, 1)[0].SequenceNumber
	}
	assert.Equal(t, int64(4), from(azeventhubs.StartPosition{Offset: &all[3].Offset}), "offset, exclusive")
	assert.Equal(t, int64(3), from(azeventhubs.StartPosition{Offset: &all[3].Offset, Inclusive: true}), "offset, inclusive")
	assert.Equal(t, int64(7), from(azeventhubs.StartPosition{SequenceNumber: ptr(int64(6))}), "sequence number, exclusive")
	assert.Equal(t, int64(6), from(azeventhubs.StartPosition{SequenceNumber: ptr(int64(6)), Inclusive: true}), "sequence number, inclusive")
	assert.Equal(t, int64(0), from(azeventhubs.StartPosition{EnqueuedTime: ptr(all[0].EnqueuedTime.Add(-time.Second))}), "enqueued time")

	// Resuming where an earlier reader stopped, as a checkpoint does: the
	// rest of the partition, in order, nothing twice.
	rest := receiveAll(ctx, t, open(azeventhubs.StartPosition{Offset: &all[4].Offset}), 5)
	for i, ev := range rest {
		assert.Equal(t, int64(5+i), ev.SequenceNumber)
	}

	// @latest: only events enqueued after the link attached. azeventhubs
	// attaches on the first ReceiveEvents, so keep sending until it
	// returns; whatever it gets must be new.
	latest := open(azeventhubs.StartPosition{Latest: ptr(true)})
	got := make(chan []*azeventhubs.ReceivedEventData, 1)
	go func() {
		evs, _ := latest.ReceiveEvents(ctx, 1, nil)
		got <- evs
	}()
	dev := connect(t, e, "dev-a")[0]
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case evs := <-got:
			require.Len(t, evs, 1)
			assert.GreaterOrEqual(t, evs[0].SequenceNumber, int64(10), "@latest skips the events already there")
			return
		case <-tick.C:
			require.NoError(t, dev.SendTelemetry(ctx, []byte("late"), nil))
		}
	}
}

// TestPartitionClientOwnershipLost: a receiver with a higher owner level
// (epoch) takes the partition over; the old one fails with
// ErrorCodeOwnershipLost.
func TestPartitionClientOwnershipLost(t *testing.T) {
	t.Parallel()
	e := startHub(t, 4, "dev-a")
	sendEach(t, connect(t, e, "dev-a"), 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := newConsumer(t, e)
	pid, _ := busiestPartition(ctx, t, first, e)

	old, err := first.NewPartitionClient(pid, &azeventhubs.PartitionClientOptions{OwnerLevel: ptr(int64(1)), StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	require.NoError(t, err)
	defer old.Close(context.Background())
	receiveAll(ctx, t, old, 1)

	second := newConsumer(t, e)
	thief, err := second.NewPartitionClient(pid, &azeventhubs.PartitionClientOptions{OwnerLevel: ptr(int64(2)), StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	require.NoError(t, err)
	defer thief.Close(context.Background())
	receiveAll(ctx, t, thief, 3)

	wait, cancelWait := context.WithTimeout(ctx, 10*time.Second)
	defer cancelWait()
	for {
		_, err = old.ReceiveEvents(wait, 100, nil)
		if err != nil {
			break
		}
	}
	var ehErr *azeventhubs.Error
	require.ErrorAs(t, err, &ehErr)
	assert.Equal(t, azeventhubs.ErrorCodeOwnershipLost, ehErr.Code)
}

// runProcessor runs an azeventhubs Processor over the emulator until want
// distinct message ids have been handled, checkpointing after each batch;
// it returns how many times each message id was seen.
func runProcessor(t *testing.T, e *emulator.Emulator, store azeventhubs.CheckpointStore, want int) map[string]int {
	t.Helper()
	cc := newConsumer(t, e)
	p, err := azeventhubs.NewProcessor(cc, store, &azeventhubs.ProcessorOptions{
		LoadBalancingStrategy: azeventhubs.ProcessorStrategyGreedy,
		UpdateInterval:        500 * time.Millisecond,
		StartPositions:        azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: ptr(true)}},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type batch struct {
		ids []string
		err error
	}
	batches := make(chan batch)
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()
	go func() {
		for {
			pc := p.NextPartitionClient(ctx)
			if pc == nil {
				return
			}
			go func() {
				defer pc.Close(context.Background())
				for ctx.Err() == nil {
					rctx, rcancel := context.WithTimeout(ctx, time.Second)
					evs, err := pc.ReceiveEvents(rctx, 100, nil)
					rcancel()
					if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
						err = nil // no events for a second
					}
					var b batch
					for _, ev := range evs {
						b.ids = append(b.ids, *ev.MessageID)
					}
					if len(evs) > 0 && err == nil {
						err = pc.UpdateCheckpoint(ctx, evs[len(evs)-1], nil)
					}
					b.err = err
					select {
					case batches <- b:
					case <-ctx.Done():
						return
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()

	seen := map[string]int{}
	for len(seen) < want {
		select {
		case b := <-batches:
			if b.err != nil && ctx.Err() == nil {
				require.NoError(t, b.err)
			}
			for _, id := range b.ids {
				seen[id]++
			}
		case <-ctx.Done():
			t.Fatalf("the processor handled %d of %d events", len(seen), want)
		}
	}
	cancel()
	require.NoError(t, <-runDone)
	return seen
}

// TestProcessor: azeventhubs' Processor, with an in-memory checkpoint
// store, reads every event of every partition once; a new Processor on
// the same store resumes after the checkpoints and reads only what came
// since.
func TestProcessor(t *testing.T) {
	t.Parallel()
	ids := deviceIDs(12)
	e := startHub(t, 4, ids...)
	devices := connect(t, e, ids...)
	first := sendEach(t, devices, 25)
	store := newMemoryCheckpointStore()

	seen := runProcessor(t, e, store, len(first))
	for id, n := range seen {
		require.Contains(t, first, id)
		assert.Equal(t, 1, n, "%s handled once", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc := newConsumer(t, e)
	for _, pid := range e.PartitionIDs() {
		pp, err := cc.GetPartitionProperties(ctx, pid, nil)
		require.NoError(t, err)
		cp, ok := store.checkpointOf(pid)
		if pp.IsEmpty {
			assert.False(t, ok, pid)
			continue
		}
		require.True(t, ok, "partition %s has a checkpoint", pid)
		require.NotNil(t, cp.SequenceNumber)
		assert.Equal(t, pp.LastEnqueuedSequenceNumber, *cp.SequenceNumber, pid)
		require.NotNil(t, cp.Offset)
		assert.Equal(t, pp.LastEnqueuedOffset, *cp.Offset, pid)
	}

	// Resume: only the events sent since the checkpoints.
	second := sent{}
	for i, d := range devices {
		id := fmt.Sprintf("later-%d", i)
		require.NoError(t, d.SendTelemetry(context.Background(), []byte("later"), &emulator.TelemetryOptions{MessageID: id}))
		second[id] = "later"
	}
	seen = runProcessor(t, e, store, len(second))
	for id := range seen {
		assert.True(t, strings.HasPrefix(id, "later-"), "resumed before its checkpoint: %s", id)
	}
	assert.Len(t, seen, len(second))
}

// TestConsumerClientTLS: with TLS, the connection string has no
// UseDevelopmentEmulator and azeventhubs speaks amqps on the emulator's
// port, trusting its CA through ConsumerClientOptions.TLSConfig.
func TestConsumerClientTLS(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{TLS: true, Devices: []emulator.DeviceSeed{{DeviceID: "dev-a"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	require.NotContains(t, e.EventHubConnectionString(), "UseDevelopmentEmulator")
	sendEach(t, connect(t, e, "dev-a"), 3)

	// go-amqp, under azeventhubs, verifies the host of the namespace with
	// its port ("127.0.0.1:PORT") unless told a ServerName; the emulator's
	// certificate names localhost.
	tlsConfig := e.TLSConfig().Clone()
	tlsConfig.ServerName = "localhost"
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(e.EventHubConnectionString(), "", azeventhubs.DefaultConsumerGroup, &azeventhubs.ConsumerClientOptions{TLSConfig: tlsConfig})
	require.NoError(t, err)
	defer cc.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pid, n := busiestPartition(ctx, t, cc, e)
	require.Equal(t, 3, n)
	pc, err := cc.NewPartitionClient(pid, &azeventhubs.PartitionClientOptions{StartPosition: azeventhubs.StartPosition{Earliest: ptr(true)}})
	require.NoError(t, err)
	defer pc.Close(ctx)
	evs := receiveAll(ctx, t, pc, 3)
	assert.Equal(t, "dev-a-2", *evs[2].MessageID)
}
