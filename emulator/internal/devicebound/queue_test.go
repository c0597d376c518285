package devicebound

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type counts struct {
	mu sync.Mutex
	m  map[Key]int
}

func (c *counts) get(k Key) int { c.mu.Lock(); defer c.mu.Unlock(); return c.m[k] }

func newTestHub(t *testing.T, opts Options) (*Hub, *clock, *counts) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cnt := &counts{m: map[Key]int{}}
	if opts.Lookup == nil {
		opts.Lookup = func(k Key) (string, error) {
			switch {
			case k.DeviceID == "ghost":
				return "", ErrDeviceNotFound
			case k.ModuleID == "ghost":
				return "", ErrModuleNotFound
			}
			return "gen-" + k.DeviceID, nil
		}
	}
	opts.Now = clk.now
	opts.OnCount = func(k Key, n int) { cnt.m[k] = n } // called under the hub lock
	h := New(opts)
	t.Cleanup(h.Close)
	return h, clk, cnt
}

var d1 = Key{DeviceID: "d1"}

func receive(t *testing.T, h *Hub, k Key) *Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := h.Receive(ctx, k)
	require.NoError(t, err)
	return m
}

// nextBatch releases the pending feedback and takes the first batch of the
// outbox, as a receiver that accepts it.
func nextBatch(t *testing.T, h *Hub) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	flushFeedback(h, false)
	it, err := h.feedback.out.next(ctx)
	require.NoError(t, err)
	h.feedback.out.settled(it) // as a receiver that accepts it
	return records(t, it.payload)
}

// flushFeedback releases the pending feedback batch: with due, only if it
// is due; otherwise at once.
func flushFeedback(h *Hub, due bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var c changes
	if due {
		h.feedback.flushDueLocked(&c)
	} else {
		h.feedback.flushLocked(&c)
	}
	h.commitLocked(&c)
}

// records decodes a feedback batch in its AMQP encoding.
func records(t *testing.T, payload []byte) []Record {
	t.Helper()
	var m amqp.Message
	require.NoError(t, m.UnmarshalBinary(payload))
	var recs []Record
	require.NoError(t, json.Unmarshal(m.GetData(), &recs))
	return recs
}

func TestEnqueueRules(t *testing.T) {
	t.Parallel()
	h, _, cnt := newTestHub(t, Options{MaxDepth: 3})
	for range 3 {
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: "m"}, 10))
	}
	assert.ErrorIs(t, h.Enqueue(d1, &Message{}, 10), ErrQueueFull)
	assert.ErrorIs(t, h.Enqueue(Key{DeviceID: "d2"}, &Message{}, DefaultMaxMessageSize+1), ErrTooLarge)
	assert.ErrorIs(t, h.Enqueue(Key{DeviceID: "ghost"}, &Message{}, 1), ErrDeviceNotFound)
	assert.ErrorIs(t, h.Enqueue(Key{DeviceID: "d1", ModuleID: "ghost"}, &Message{}, 1), ErrModuleNotFound)
	assert.Equal(t, 3, h.Depth(d1))
	assert.Equal(t, 3, cnt.get(d1))
}

func TestReceiveCompleteRejectAbandon(t *testing.T) {
	t.Parallel()
	h, _, cnt := newTestHub(t, Options{})
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: id, Ack: AckFull}, 1))
	}
	a := receive(t, h, d1)
	assert.Equal(t, "a", a.MessageID)
	assert.Equal(t, 1, a.DeliveryCount)
	require.NoError(t, h.Abandon(d1, a.LockToken))
	assert.ErrorIs(t, h.Complete(d1, a.LockToken), ErrLockLost, "an abandoned lock is gone")

	a = receive(t, h, d1)
	assert.Equal(t, "a", a.MessageID, "an abandoned message comes back first")
	assert.Equal(t, 2, a.DeliveryCount)
	require.NoError(t, h.Complete(d1, a.LockToken))
	b := receive(t, h, d1)
	require.NoError(t, h.Reject(d1, b.LockToken))
	assert.Equal(t, 1, cnt.get(d1))

	recs := nextBatch(t, h)
	require.Len(t, recs, 2)
	assert.Equal(t, Record{OriginalMessageID: "a", Description: "Success", DeviceGenerationID: "gen-d1", DeviceID: "d1",
		EnqueuedTimeUTC: recs[0].EnqueuedTimeUTC, StatusCode: StatusSuccess}, recs[0])
	assert.Equal(t, StatusRejected, recs[1].StatusCode)
}

func TestAckFilters(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHub(t, Options{})
	for _, ack := range []Ack{AckNone, AckPositive, AckNegative, AckFull} {
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: "ok-" + string(ack), Ack: ack}, 1))
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: "no-" + string(ack), Ack: ack}, 1))
	}
	for range 4 {
		m := receive(t, h, d1)
		require.NoError(t, h.Complete(d1, m.LockToken))
		m = receive(t, h, d1)
		require.NoError(t, h.Reject(d1, m.LockToken))
	}
	var got []string
	for _, r := range nextBatch(t, h) {
		got = append(got, r.OriginalMessageID+":"+r.StatusCode)
	}
	assert.Equal(t, []string{"ok-positive:Success", "no-negative:Rejected", "ok-full:Success", "no-full:Rejected"}, got)
}

func TestExpiryAndDeliveryCount(t *testing.T) {
	t.Parallel()
	h, clk, cnt := newTestHub(t, Options{MaxDeliveryCount: 2})
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "old", Ack: AckNegative}, 1))
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "soon", Ack: AckNegative, ExpiryTime: clk.now().Add(time.Minute)}, 1))
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "bouncy", Ack: AckNegative, ExpiryTime: clk.now().Add(3 * time.Hour)}, 1))
	clk.add(2 * time.Minute)
	m := receive(t, h, d1)
	assert.Equal(t, "old", m.MessageID, "the default TTL is an hour")
	require.NoError(t, h.Complete(d1, m.LockToken))
	clk.add(2 * time.Hour) // "old" would have expired by now too
	m = receive(t, h, d1)
	assert.Equal(t, "bouncy", m.MessageID)
	require.NoError(t, h.Abandon(d1, m.LockToken))
	m = receive(t, h, d1)
	require.NoError(t, h.Abandon(d1, m.LockToken))
	assert.Equal(t, 0, h.Depth(d1), "dead-lettered after MaxDeliveryCount deliveries")
	assert.Equal(t, 0, cnt.get(d1))

	var got []string
	for _, r := range nextBatch(t, h) {
		got = append(got, r.OriginalMessageID+":"+r.StatusCode)
	}
	assert.Equal(t, []string{"soon:Expired", "bouncy:DeliveryCountExceeded"}, got)
}

func TestLockTimeoutReturnsMessage(t *testing.T) {
	t.Parallel()
	h, clk, _ := newTestHub(t, Options{LockTimeout: time.Minute})
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "x"}, 1))
	m := receive(t, h, d1)
	clk.add(2 * time.Minute)
	again := receive(t, h, d1)
	assert.Equal(t, "x", again.MessageID)
	assert.Equal(t, 2, again.DeliveryCount)
	assert.ErrorIs(t, h.Complete(d1, m.LockToken), ErrLockLost)
	require.NoError(t, h.Complete(d1, again.LockToken))
}

func TestPurge(t *testing.T) {
	t.Parallel()
	h, _, cnt := newTestHub(t, Options{})
	for range 4 {
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: "p", Ack: AckFull}, 1))
	}
	locked := receive(t, h, d1)
	n, err := h.Purge(d1)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, 0, cnt.get(d1))
	assert.ErrorIs(t, h.Complete(d1, locked.LockToken), ErrLockLost)
	assert.Len(t, nextBatch(t, h), 4)
	_, err = h.Purge(Key{DeviceID: "ghost"})
	assert.ErrorIs(t, err, ErrDeviceNotFound)
}

func TestReceiveWaitsAndCloses(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHub(t, Options{})
	got := make(chan *Message, 1)
	go func() {
		m, _ := h.Receive(context.Background(), d1)
		got <- m
	}()
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "late"}, 1))
	assert.Equal(t, "late", (<-got).MessageID)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Receive(ctx, d1)
	assert.ErrorIs(t, err, context.Canceled)

	done := make(chan error, 1)
	go func() { _, err := h.Receive(context.Background(), Key{DeviceID: "d9"}); done <- err }()
	h.Close()
	assert.ErrorIs(t, <-done, ErrClosed)
}

func TestFeedbackBatching(t *testing.T) {
	t.Parallel()
	h, clk, _ := newTestHub(t, Options{FeedbackBatchSize: 3, FeedbackInterval: time.Second})
	for range 4 {
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: "f", Ack: AckPositive}, 1))
	}
	for range 4 {
		m := receive(t, h, d1)
		require.NoError(t, h.Complete(d1, m.LockToken))
	}
	assert.Equal(t, 1, h.feedback.out.len(), "a full batch goes out at once")
	flushFeedback(h, true)
	assert.Equal(t, 1, h.feedback.out.len(), "the rest waits for the interval")
	clk.add(time.Second)
	flushFeedback(h, true)
	assert.Equal(t, 2, h.feedback.out.len())
}

func TestParseTo(t *testing.T) {
	t.Parallel()
	cases := map[string]Key{
		"/devices/d1/messages/devicebound":              {DeviceID: "d1"},
		"/devices/a%23b/messages/devicebound":           {DeviceID: "a#b"},
		"devices/d1/modules/m%2F1/messages/DeviceBound": {DeviceID: "d1", ModuleID: "m/1"},
	}
	for in, want := range cases {
		k, ok := ParseTo(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, k, in)
	}
	for _, bad := range []string{"", "/devices//messages/devicebound", "/devices/d1/messages/events", "/devices/d1", "/devices/%zz/messages/devicebound"} {
		_, ok := ParseTo(bad)
		assert.False(t, ok, bad)
	}
}
