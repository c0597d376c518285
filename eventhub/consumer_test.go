package eventhub_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
)

func TestConsumerConnectionStrings(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 4)
	h.send(t, 1, 3)
	for name, cs := range map[string]string{
		"iothub redirect": h.ConnectionString(),
		"event hub":       h.EventHubConnectionString(),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := timeout(t, 20*time.Second)
			c := newConsumer(t, cs, nil)
			p, err := c.Properties(ctx)
			require.NoError(t, err)
			assert.Equal(t, h.HubName(), p.Name)
			assert.Equal(t, []string{"0", "1", "2", "3"}, p.PartitionIDs)
			assert.False(t, p.CreatedAt.IsZero())
			ns, entity, err := c.EventHub(ctx)
			require.NoError(t, err)
			assert.Equal(t, h.HostName(), ns)
			assert.Equal(t, h.HubName(), entity)

			r, err := c.NewPartitionReceiver("1", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
			require.NoError(t, err)
			defer r.Close(ctx)
			evs := receiveN(t, ctx, r, 3)
			assert.Equal(t, "1-0", string(evs[0].Body))
			assert.Equal(t, "1-2", string(evs[2].Body))
		})
	}
}

func TestPartitionProperties(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 4)
	h.send(t, 2, 5)
	ctx := timeout(t, 20*time.Second)
	c := newConsumer(t, h.ConnectionString(), nil)

	p, err := c.PartitionProperties(ctx, "2")
	require.NoError(t, err)
	assert.Equal(t, "2", p.PartitionID)
	assert.Equal(t, int64(0), p.BeginningSequenceNumber)
	assert.Equal(t, int64(4), p.LastEnqueuedSequenceNumber)
	assert.NotEmpty(t, p.LastEnqueuedOffset)
	assert.WithinDuration(t, time.Now(), p.LastEnqueuedTime, time.Minute)
	assert.False(t, p.IsEmpty)

	p, err = c.PartitionProperties(ctx, "0")
	require.NoError(t, err)
	assert.True(t, p.IsEmpty)
	assert.Equal(t, int64(-1), p.LastEnqueuedSequenceNumber)

	_, err = c.PartitionProperties(ctx, "99")
	require.Error(t, err)
	assert.ErrorIs(t, err, eventhub.ErrNotFound)
}

func TestStartPositions(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	h.send(t, 0, 10)
	ctx := timeout(t, 30*time.Second)
	c := newConsumer(t, h.EventHubConnectionString(), nil)
	all := func() []*eventhub.Event {
		r, err := c.NewPartitionReceiver("0", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
		require.NoError(t, err)
		defer r.Close(ctx)
		return receiveN(t, ctx, r, 10)
	}()
	for i, ev := range all {
		require.Equal(t, int64(i), ev.SequenceNumber)
	}
	mid := all[4]

	tests := []struct {
		name  string
		start eventhub.StartPosition
		first int64
	}{
		{"earliest", eventhub.StartPosition{Earliest: true}, 0},
		{"sequence number", eventhub.StartPosition{SequenceNumber: ptr(int64(4))}, 5},
		{"sequence number inclusive", eventhub.StartPosition{SequenceNumber: ptr(int64(4)), Inclusive: true}, 4},
		{"offset", eventhub.StartPosition{Offset: ptr(mid.Offset)}, 5},
		{"offset inclusive", eventhub.StartPosition{Offset: ptr(mid.Offset), Inclusive: true}, 4},
		{"enqueued time before all", eventhub.StartPosition{EnqueuedTime: ptr(all[0].EnqueuedTime.Add(-time.Second))}, 0},
		{"latest", eventhub.StartPosition{Latest: true}, -1},
		{"zero value is latest", eventhub.StartPosition{}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.NewPartitionReceiver("0", &eventhub.ReceiverOptions{StartPosition: tt.start})
			require.NoError(t, err)
			defer r.Close(ctx)
			want := tt.first
			if want == -1 {
				want = int64(h.sent[0])
				// Nothing old arrives; a new event does.
				short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				evs, err := r.Receive(short, 1)
				cancel()
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.Empty(t, evs)
				h.send(t, 0, 1)
			}
			ev := receiveN(t, ctx, r, 1)[0]
			assert.Equal(t, want, ev.SequenceNumber)
		})
	}
}

func TestReceiveReturnsEarlyWhenContextEnds(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	h.send(t, 1, 3)
	ctx := timeout(t, 20*time.Second)
	c := newConsumer(t, h.EventHubConnectionString(), nil)
	r, err := c.NewPartitionReceiver("1", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}, Prefetch: 2})
	require.NoError(t, err)
	defer r.Close(ctx)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	evs, err := r.Receive(short, 100)
	require.NoError(t, err)
	require.Len(t, evs, 3, "a batch larger than the prefetch is filled across credit refills")

	// The next call resumes after them.
	h.send(t, 1, 1)
	evs, err = r.Receive(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(3), evs[0].SequenceNumber)
}

func TestEventFields(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	ctx := timeout(t, 20*time.Second)
	m, err := h.Module(deviceIDFor(0, 2), "mod")
	require.NoError(t, err)
	require.NoError(t, m.Connect(ctx))
	defer m.Disconnect()
	require.NoError(t, m.SendTelemetry(ctx, []byte(`{"t":21.5}`), &emulator.TelemetryOptions{
		Properties: map[string]string{"alert": "high"}, MessageID: "m1", CorrelationID: "c1",
		ContentType: "application/json", ContentEncoding: "utf-8",
	}))
	c := newConsumer(t, h.ConnectionString(), nil)
	r, err := c.NewPartitionReceiver("0", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
	require.NoError(t, err)
	defer r.Close(ctx)
	ev := receiveN(t, ctx, r, 1)[0]
	assert.Equal(t, `{"t":21.5}`, string(ev.Body))
	assert.Equal(t, deviceIDFor(0, 2), ev.DeviceID)
	assert.Equal(t, "mod", ev.ModuleID)
	assert.Equal(t, "m1", ev.MessageID)
	assert.Equal(t, "c1", ev.CorrelationID)
	assert.Equal(t, "application/json", ev.ContentType)
	assert.Equal(t, "utf-8", ev.ContentEncoding)
	assert.Equal(t, "0", ev.PartitionID)
	assert.Equal(t, int64(0), ev.SequenceNumber)
	assert.Equal(t, "0", ev.Offset)
	assert.WithinDuration(t, time.Now(), ev.EnqueuedTime, time.Minute)
	assert.Equal(t, map[string]any{"alert": "high"}, ev.Properties)
	assert.Equal(t, "Telemetry", ev.SystemProperties()["iothub-message-source"])
	assert.Equal(t, "m1", ev.SystemProperties()["message-id"])
	assert.Contains(t, ev.SystemProperties(), "iothub-connection-auth-method")
	assert.Contains(t, ev.SystemProperties(), "iothub-enqueuedtime")
}

// checkSequence asserts that events are exactly from..from+len-1.
func checkSequence(t testing.TB, evs []*eventhub.Event, from int64) {
	t.Helper()
	for i, ev := range evs {
		require.Equal(t, from+int64(i), ev.SequenceNumber, "event %d of %d: gap or repeat", i, len(evs))
		require.Equal(t, ev.PartitionID+"-"+strconv.FormatInt(ev.SequenceNumber, 10), string(ev.Body))
	}
}

func TestRecoveryNoGapNoRepeat(t *testing.T) {
	t.Parallel()
	faults := map[string]func(*testHub){
		"connection dropped":   func(h *testHub) { h.DropAMQPConnections() },
		"server busy":          func(h *testHub) { h.DetachTelemetryReceivers("com.microsoft:server-busy") },
		"link detached forced": func(h *testHub) { h.DetachTelemetryReceivers("amqp:link:detach-forced") },
	}
	for name, fault := range faults {
		for _, cs := range []string{"iothub", "eventhub"} {
			t.Run(name+"/"+cs, func(t *testing.T) {
				t.Parallel()
				h := newTestHub(t, 2)
				ctx := timeout(t, 30*time.Second)
				conn := h.ConnectionString()
				if cs == "eventhub" {
					conn = h.EventHubConnectionString()
				}
				c := newConsumer(t, conn, nil)
				r, err := c.NewPartitionReceiver("1", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}, Prefetch: 50})
				require.NoError(t, err)
				defer r.Close(ctx)
				h.send(t, 1, 200)
				var got []*eventhub.Event
				got = append(got, receiveN(t, ctx, r, 30)...)
				for round := range 3 {
					fault(h)
					h.send(t, 1, 100)
					got = append(got, receiveN(t, ctx, r, 60+round)...)
				}
				got = append(got, receiveN(t, ctx, r, 500-len(got))...)
				checkSequence(t, got, 0)
			})
		}
	}
}

func TestOwnershipLostOnEpochTakeover(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	h.send(t, 0, 5)
	ctx := timeout(t, 20*time.Second)
	c := newConsumer(t, h.EventHubConnectionString(), nil)
	old, err := c.NewPartitionReceiver("0", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}, OwnerLevel: ptr(int64(1))})
	require.NoError(t, err)
	defer old.Close(ctx)
	receiveN(t, ctx, old, 5)

	c2 := newConsumer(t, h.ConnectionString(), nil)
	next, err := c2.NewPartitionReceiver("0", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}, OwnerLevel: ptr(int64(2))})
	require.NoError(t, err)
	defer next.Close(ctx)
	receiveN(t, ctx, next, 5)

	_, err = old.Receive(ctx, 1)
	require.ErrorIs(t, err, eventhub.ErrOwnershipLost)
	_, err = old.Receive(ctx, 1)
	require.ErrorIs(t, err, eventhub.ErrOwnershipLost, "ownership loss is final")

	// A lower level cannot take it back, nor can a plain receiver.
	low, err := c.NewPartitionReceiver("0", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}, OwnerLevel: ptr(int64(1))})
	require.NoError(t, err)
	defer low.Close(ctx)
	_, err = low.Receive(ctx, 1)
	require.ErrorIs(t, err, eventhub.ErrOwnershipLost)
}

func TestConsumerErrors(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	ctx := timeout(t, 20*time.Second)

	t.Run("wrong key", func(t *testing.T) {
		bad, err := h.PolicyConnectionString("iothubowner")
		require.NoError(t, err)
		bad = replaceKey(bad)
		for _, cs := range []string{bad, replaceKey(h.EventHubConnectionString())} {
			c := newConsumer(t, cs, nil)
			_, err = c.Properties(ctx)
			require.Error(t, err)
			assert.ErrorIs(t, err, eventhub.ErrUnauthorized, "%v", err)
			r, err := c.NewPartitionReceiver("0", nil)
			require.NoError(t, err)
			_, err = r.Receive(ctx, 1)
			assert.ErrorIs(t, err, iothub.ErrUnauthorized, "%v", err)
		}
	})
	t.Run("no such partition or group", func(t *testing.T) {
		c := newConsumer(t, h.ConnectionString(), nil)
		r, err := c.NewPartitionReceiver("7", nil)
		require.NoError(t, err)
		_, err = r.Receive(ctx, 1)
		assert.ErrorIs(t, err, eventhub.ErrNotFound, "%v", err)

		c = newConsumer(t, h.ConnectionString(), &eventhub.ConsumerOptions{ConsumerGroup: "nope"})
		r, err = c.NewPartitionReceiver("0", nil)
		require.NoError(t, err)
		_, err = r.Receive(ctx, 1)
		assert.ErrorIs(t, err, eventhub.ErrNotFound, "%v", err)
	})
	t.Run("closed", func(t *testing.T) {
		c := newConsumer(t, h.ConnectionString(), &eventhub.ConsumerOptions{ConsumerGroup: "cg1"})
		r, err := c.NewPartitionReceiver("0", nil)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { _, err := r.Receive(ctx, 1); done <- err }()
		time.Sleep(100 * time.Millisecond) // let it attach; Close must work at any point
		require.NoError(t, r.Close(ctx))
		err = <-done
		assert.True(t, errors.Is(err, eventhub.ErrClosed), "%v", err)
	})
}

// replaceKey swaps the SharedAccessKey of a connection string for another
// valid base64 key.
func replaceKey(cs string) string {
	const k = "SharedAccessKey="
	i := strings.Index(cs, k)
	j := i + len(k)
	end := j
	for end < len(cs) && cs[end] != ';' {
		end++
	}
	return cs[:j] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" + cs[end:]
}

// TestConsumerSpreadsReceiversOverConnections: receivers join the
// connection with the fewest receivers, and connections are dialled only
// when a receiver needs one.
func TestConsumerSpreadsReceiversOverConnections(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 4)
	h.sendAll(t, 5)
	for _, tc := range []struct{ connections, receivers, dials int }{
		{connections: 2, receivers: 4, dials: 2},
		{connections: 1, receivers: 4, dials: 1},
		{connections: 8, receivers: 3, dials: 3},
	} {
		t.Run(fmt.Sprintf("%d connections %d receivers", tc.connections, tc.receivers), func(t *testing.T) {
			ctx := timeout(t, 20*time.Second)
			var dials atomic.Int32
			var d net.Dialer
			c := newConsumer(t, h.EventHubConnectionString(), &eventhub.ConsumerOptions{
				Connections: tc.connections,
				Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return d.DialContext(ctx, network, addr)
				},
			})
			for p := range tc.receivers {
				r, err := c.NewPartitionReceiver(strconv.Itoa(p), &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
				require.NoError(t, err)
				defer r.Close(ctx)
				checkSequence(t, receiveN(t, ctx, r, 5), 0)
			}
			_, err := c.Properties(ctx)
			require.NoError(t, err)
			assert.Equal(t, int32(tc.dials), dials.Load(), "connections dialled")
		})
	}
	_, err := eventhub.NewConsumerFromConnectionString(h.EventHubConnectionString(), &eventhub.ConsumerOptions{Connections: -1})
	require.ErrorContains(t, err, "Connections is -1")
}
