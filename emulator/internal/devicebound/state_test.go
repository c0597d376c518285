package devicebound

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// restarts runs hubs one after the other on one state directory and one
// clock, as an emulator restarted on its directory would.
type restarts struct {
	t    *testing.T
	dir  string
	clk  *clock
	opts Options
}

func newRestarts(t *testing.T, opts Options) *restarts {
	t.Helper()
	return &restarts{t: t, dir: t.TempDir(), clk: &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, opts: opts}
}

// open opens the directory and a Hub on it; stop closes both.
func (r *restarts) open() (*Hub, *persist.DB, *counts) {
	r.t.Helper()
	db, err := persist.Open(r.dir, nil)
	require.NoError(r.t, err)
	cnt := &counts{m: map[Key]int{}}
	opts := r.opts
	opts.DB = db
	opts.Now = r.clk.now
	opts.OnCount = func(k Key, n int) { cnt.m[k] = n } // called under the hub lock
	if opts.Lookup == nil {
		opts.Lookup = func(k Key) (string, error) { return "gen-" + k.DeviceID, nil }
	}
	h, err := Open(opts)
	if err != nil {
		_ = db.Close()
	}
	require.NoError(r.t, err)
	r.t.Cleanup(func() { h.Close(); _ = db.Close() })
	return h, db, cnt
}

func (r *restarts) stop(h *Hub, db *persist.DB) {
	r.t.Helper()
	h.Close()
	require.NoError(r.t, db.Close())
}

// stored counts the records of a bucket that are on disk.
func stored(t *testing.T, db *persist.DB, bucket string) int {
	t.Helper()
	n := 0
	require.NoError(t, db.ForEach(bucket, func(_, _ []byte) error { n++; return nil }))
	return n
}

// snapshot copies every message of k's queue, by message id, as a restart
// should give them back: unlocked.
func snapshot(h *Hub, k Key) map[string]Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]Message{}
	q := h.queues[k]
	add := func(m *Message) {
		cp := *m
		cp.LockToken, cp.lockedUntil = "", time.Time{}
		out[m.MessageID] = cp
	}
	for _, m := range q.locked {
		add(m)
	}
	for _, m := range q.ready {
		add(m)
	}
	return out
}

// ready returns copies of the ready messages of k's queue, in order.
func ready(h *Hub, k Key) []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Message
	if q := h.queues[k]; q != nil {
		for _, m := range q.ready {
			out = append(out, *m)
		}
	}
	return out
}

func TestRestartKeepsQueues(t *testing.T) {
	t.Parallel()
	r := newRestarts(t, Options{})
	h, db, _ := r.open()
	mod := Key{DeviceID: "d1", ModuleID: "m/1"}
	d2 := Key{DeviceID: "d2"}
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, h.Enqueue(d1, &Message{
			MessageID: id, CorrelationID: "corr-" + id, UserID: "user", To: "/devices/d1/messages/devicebound",
			ContentType: "text/plain", ContentEncoding: "utf-8", Body: []byte("body " + id),
			Properties: map[string]string{"color": "red"}, Ack: AckFull,
		}, 10))
	}
	require.NoError(t, h.Enqueue(mod, &Message{MessageID: "x", Body: []byte{}, Properties: map[string]string{}}, 1))
	require.NoError(t, h.Enqueue(mod, &Message{MessageID: "y", ExpiryTime: r.clk.now().Add(3 * time.Hour)}, 1))
	require.NoError(t, h.Enqueue(d2, &Message{MessageID: "z"}, 1))

	a := receive(t, h, d1) // held by the device when the hub stops
	assert.Equal(t, 1, a.DeliveryCount)
	b := receive(t, h, d1)
	require.NoError(t, h.Abandon(d1, b.LockToken)) // back at the head
	x := receive(t, h, mod)
	require.NoError(t, h.Abandon(mod, x.LockToken))

	want := map[Key][]string{d1: {"b", "a", "c"}, mod: {"x", "y"}, d2: {"z"}}
	before := map[Key]map[string]Message{}
	for k := range want {
		before[k] = snapshot(h, k)
	}
	r.stop(h, db)

	h, db, cnt := r.open()
	for k, ids := range want {
		got := ready(h, k)
		require.Len(t, got, len(ids), describe(k))
		for i, id := range ids {
			assert.Equal(t, before[k][id], got[i], "message %s of %s: same fields, delivery count and place", id, describe(k))
		}
		assert.Equal(t, len(ids), cnt.get(k), "OnCount is told the depth of %s", describe(k))
		assert.Equal(t, len(ids), h.Depth(k))
	}
	assert.Equal(t, 1, before[d1]["a"].DeliveryCount, "the lock is gone, the delivery count kept")

	got := receive(t, h, d1)
	assert.Equal(t, "b", got.MessageID)
	assert.Equal(t, 2, got.DeliveryCount)
	require.NoError(t, h.Complete(d1, got.LockToken))
	assert.ErrorIs(t, h.Complete(d1, a.LockToken), ErrLockLost, "locks do not survive a restart")
	recs := nextBatch(t, h)
	require.Len(t, recs, 1)
	assert.Equal(t, Record{OriginalMessageID: "b", Description: "Success", DeviceGenerationID: "gen-d1", DeviceID: "d1",
		EnqueuedTimeUTC: recs[0].EnqueuedTimeUTC, StatusCode: StatusSuccess}, recs[0])

	// Messages enqueued after the restart go behind the kept ones, under
	// ids of their own.
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "d"}, 1))
	var order []string
	for _, m := range ready(h, d1) {
		order = append(order, m.MessageID)
	}
	assert.Equal(t, []string{"a", "c", "d"}, order)
	assert.Equal(t, 3+2+1, stored(t, db, bucketMessages))
}

func TestRestartExpiresAndDeadLetters(t *testing.T) {
	t.Parallel()
	r := newRestarts(t, Options{MaxDeliveryCount: 2})
	h, db, _ := r.open()
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "first", Ack: AckNegative, ExpiryTime: r.clk.now().Add(time.Minute)}, 1))
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "second", Ack: AckNegative}, 1))
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "bouncy", Ack: AckNegative}, 1))
	for _, id := range []string{"first", "second"} {
		m := receive(t, h, d1)
		require.Equal(t, id, m.MessageID)
		require.NoError(t, h.Abandon(d1, m.LockToken))
		m = receive(t, h, d1)
		require.Equal(t, id, m.MessageID)
		require.NoError(t, h.Abandon(d1, m.LockToken), "the second delivery was the last: dead-lettered")
	}
	m := receive(t, h, d1)
	require.Equal(t, "bouncy", m.MessageID)
	require.NoError(t, h.Abandon(d1, m.LockToken))
	m = receive(t, h, d1) // its last delivery, held when the hub stops
	assert.Equal(t, 2, m.DeliveryCount)
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "fresh", Ack: AckNegative, ExpiryTime: r.clk.now().Add(time.Minute)}, 1))
	var dead []string
	for _, rec := range nextBatch(t, h) {
		dead = append(dead, rec.OriginalMessageID+":"+rec.StatusCode)
	}
	assert.Equal(t, []string{"first:DeliveryCountExceeded", "second:DeliveryCountExceeded"}, dead)
	r.stop(h, db)

	r.clk.add(2 * time.Minute) // the emulator is down while "fresh" expires
	h, db, cnt := r.open()
	assert.Equal(t, 0, h.Depth(d1))
	assert.Equal(t, 0, cnt.get(d1))
	var got []string
	for _, rec := range nextBatch(t, h) {
		got = append(got, rec.OriginalMessageID+":"+rec.StatusCode)
	}
	assert.Equal(t, []string{"bouncy:DeliveryCountExceeded", "fresh:Expired"}, got,
		"a restart ends the lock of a message on its last delivery, as a lock time-out would")
	assert.Zero(t, stored(t, db, bucketMessages))
}

func TestRestartDeliversServiceBound(t *testing.T) {
	t.Parallel()
	r := newRestarts(t, Options{FeedbackBatchSize: 2})
	h, db, _ := r.open()
	for _, id := range []string{"f1", "f2", "f3"} {
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: id, Ack: AckPositive}, 1))
		m := receive(t, h, d1)
		require.NoError(t, h.Complete(d1, m.LockToken))
	}
	require.NoError(t, h.NotifyFileUpload("d1", "d1/report.csv", "https://blob.example/c/d1/report.csv", 1234, time.Time{}))
	require.Equal(t, 1, h.feedback.out.len(), "f1 and f2 are batched, f3 pending")
	batch := decoded(t, h.feedback.out)[0]
	file := decoded(t, h.files)[0]
	r.stop(h, db)

	h, db, _ = r.open()
	s := serve(t, h, nil)
	ctx := tctx(t)
	feedback, err := s.NewReceiver(ctx, AddressFeedback, nil)
	require.NoError(t, err)
	got, err := feedback.Receive(ctx, nil)
	require.NoError(t, err)
	sameMessage(t, batch, got)
	require.NoError(t, feedback.AcceptMessage(ctx, got))

	r.clk.add(time.Second) // the pending record's batch is due
	flushFeedback(h, true)
	got, err = feedback.Receive(ctx, nil)
	require.NoError(t, err)
	var recs []Record
	require.NoError(t, json.Unmarshal(got.GetData(), &recs))
	require.Len(t, recs, 1)
	assert.Equal(t, "f3", recs[0].OriginalMessageID)
	require.NoError(t, feedback.AcceptMessage(ctx, got))

	files, err := s.NewReceiver(ctx, AddressFileNotifications, nil)
	require.NoError(t, err)
	got, err = files.Receive(ctx, nil)
	require.NoError(t, err)
	sameMessage(t, file, got)
	require.NoError(t, files.ReleaseMessage(ctx, got))

	// Accepted batches leave the DB; the released notification stays.
	require.Eventually(t, func() bool { return stored(t, db, bucketFeedbackOutbox) == 0 }, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, stored(t, db, bucketFeedbackPending))
	assert.Equal(t, 1, stored(t, db, bucketFileOutbox))
	r.stop(h, db)

	h, db, _ = r.open()
	assert.Zero(t, h.feedback.out.len(), "each batch is delivered once")
	s = serve(t, h, nil)
	files, err = s.NewReceiver(ctx, AddressFileNotifications, nil)
	require.NoError(t, err)
	got, err = files.Receive(ctx, nil)
	require.NoError(t, err)
	sameMessage(t, file, got)
	require.NoError(t, files.AcceptMessage(ctx, got))
	require.Eventually(t, func() bool { return stored(t, db, bucketFileOutbox) == 0 }, 5*time.Second, 10*time.Millisecond)
}

// decoded returns the messages waiting in o.
func decoded(t *testing.T, o *outbox) []*amqp.Message {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*amqp.Message
	for _, it := range o.items {
		m := new(amqp.Message)
		require.NoError(t, m.UnmarshalBinary(it.payload))
		out = append(out, m)
	}
	return out
}

// sameMessage checks that a service-bound message kept its identity.
func sameMessage(t *testing.T, want, got *amqp.Message) {
	t.Helper()
	require.NotNil(t, got.Properties)
	assert.Equal(t, want.Properties.MessageID, got.Properties.MessageID)
	assert.Equal(t, *want.Properties.ContentType, *got.Properties.ContentType)
	assert.True(t, want.Properties.CreationTime.Equal(*got.Properties.CreationTime))
	assert.Equal(t, want.Annotations["x-opt-enqueued-time"], got.Annotations["x-opt-enqueued-time"])
	assert.Equal(t, want.GetData(), got.GetData())
}

func TestPurgeAndForgetAreKept(t *testing.T) {
	t.Parallel()
	r := newRestarts(t, Options{})
	h, db, _ := r.open()
	keys := []Key{d1, d1, {DeviceID: "d1", ModuleID: "m1"}, {DeviceID: "d10"}, {DeviceID: "d2"}, {DeviceID: "d2", ModuleID: "m1"}}
	for _, k := range keys {
		require.NoError(t, h.Enqueue(k, &Message{MessageID: describe(k), Ack: AckFull}, 1))
	}
	receive(t, h, d1) // a locked message is purged too
	n, err := h.Purge(d1)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, h.Forget("d2"))
	r.stop(h, db)

	h, _, cnt := r.open()
	for k, depth := range map[Key]int{d1: 0, {DeviceID: "d1", ModuleID: "m1"}: 1, {DeviceID: "d10"}: 1, {DeviceID: "d2"}: 0, {DeviceID: "d2", ModuleID: "m1"}: 0} {
		assert.Equal(t, depth, h.Depth(k), describe(k))
		assert.Equal(t, depth, cnt.get(k), describe(k))
	}
	recs := nextBatch(t, h)
	require.Len(t, recs, 2, "the Purged feedback was pending")
	assert.Equal(t, StatusPurged, recs[0].StatusCode)
	assert.Equal(t, StatusPurged, recs[1].StatusCode)
}

// ballast hands db a large write ahead of the next ones, so that a call
// that answered before its own write was committed would be seen doing so.
func ballast(t *testing.T, db *persist.DB) {
	t.Helper()
	db.Write(persist.Put("test.ballast", []byte("k"), make([]byte, 8<<20)))
}

// TestAnswersAreOnDisk checks that each call answers once its change is on
// disk: the bucket is read right after, without a Sync, and each call has
// a slow commit to wait for.
func TestAnswersAreOnDisk(t *testing.T) {
	t.Parallel()
	r := newRestarts(t, Options{MaxDepth: 1})
	h, db, _ := r.open()
	keptCount := func() int {
		v, err := db.Get(bucketMessages, messageKey(queuePrefix(d1), 0))
		require.NoError(t, err)
		if v == nil {
			return -1
		}
		m, err := decodeMessage(v)
		require.NoError(t, err)
		return m.DeliveryCount
	}

	s := serve(t, h, nil)
	ctx := tctx(t)
	snd, err := s.NewSender(ctx, AddressDevicebound, nil)
	require.NoError(t, err)
	ballast(t, db)
	require.NoError(t, snd.Send(ctx, c2dMessage("/devices/d1/messages/devicebound", "m1", []byte("hello"), "full"), nil))
	assert.Equal(t, 0, keptCount(), "the send is accepted once the message is on disk")
	assert.Equal(t, amqp.ErrCondResourceLimitExceeded,
		rejectedCondition(t, snd.Send(ctx, c2dMessage("/devices/d1/messages/devicebound", "m2", nil, ""), nil)))

	ballast(t, db)
	m := receive(t, h, d1)
	assert.Equal(t, 1, keptCount())
	require.NoError(t, h.Abandon(d1, m.LockToken))
	ballast(t, db)
	m = receive(t, h, d1)
	assert.Equal(t, 2, keptCount())
	ballast(t, db)
	require.NoError(t, h.Complete(d1, m.LockToken))
	assert.Equal(t, -1, keptCount())
	assert.Equal(t, 1, stored(t, db, bucketFeedbackPending))

	ballast(t, db)
	require.NoError(t, h.NotifyFileUpload("d1", "d1/f", "https://blob.example/c/d1/f", 1, time.Time{}))
	assert.Equal(t, 1, stored(t, db, bucketFileOutbox))
}

func TestOpenRejectsMalformedState(t *testing.T) {
	t.Parallel()
	goodMessage := encodeMessage(&Message{MessageID: "m", Ack: AckNone})
	goodRecord, err := json.Marshal(Record{StatusCode: StatusSuccess})
	require.NoError(t, err)
	cases := []struct {
		name, bucket string
		key, value   []byte
		want         string
	}{
		{"message key", bucketMessages, []byte("d1"), goodMessage, "devicebound.messages: key 6431: malformed key"},
		{"message key without a device", bucketMessages, messageKey(queuePrefix(Key{}), 1), goodMessage, "malformed key"},
		{"message value", bucketMessages, messageKey(queuePrefix(d1), 7), []byte("{"), "message 7 of device 'd1'"},
		{"message ack", bucketMessages, messageKey(queuePrefix(Key{DeviceID: "d1", ModuleID: "m"}), 7), []byte(`{"ack":"maybe"}`),
			`message 7 of module 'm' of device 'd1': unknown ack "maybe"`},
		{"feedback key", bucketFeedbackPending, []byte{1}, goodRecord, "devicebound.feedback.pending: key 01: malformed key"},
		{"feedback record", bucketFeedbackPending, seqKey(3), []byte("[]"), "devicebound.feedback.pending: record 3"},
		{"feedback status", bucketFeedbackPending, seqKey(3), []byte(`{"statusCode":"Lost"}`), `record 3: unknown status "Lost"`},
		{"feedback outbox key", bucketFeedbackOutbox, []byte("k"), serviceBound(nil, FeedbackContentType, time.Now()), "malformed key"},
		{"file notification", bucketFileOutbox, seqKey(4), []byte("garbage"), "devicebound.filenotifications.outbox: message 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRestarts(t, Options{})
			db, err := persist.Open(r.dir, nil)
			require.NoError(t, err)
			defer db.Close()
			require.NoError(t, db.Write(persist.Put(tc.bucket, tc.key, tc.value)).Wait(context.Background()))
			h, err := Open(Options{Lookup: func(Key) (string, error) { return "", nil }, DB: db})
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestOpenWithoutDB(t *testing.T) {
	t.Parallel()
	h, err := Open(Options{Lookup: func(Key) (string, error) { return "", nil }})
	require.NoError(t, err)
	defer h.Close()
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "m"}, 1))
	require.NoError(t, h.Forget("d1"))
	assert.Zero(t, h.Depth(d1))
}
