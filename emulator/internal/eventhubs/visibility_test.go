package eventhubs

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/persist"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// heldCommits stands in for Hub.waitCommit and holds the DB's commits back
// from the hub: each wait for a write blocks until the test commits it,
// then waits for the real commit. The events reach the state file
// meanwhile; what is held back is the hub learning that they did, which is
// all that decides what readers see.
type heldCommits struct {
	mu    sync.Mutex
	gates []chan struct{} // one per wait, in the order they began
	began chan int        // the index of every wait that begins
}

// holdCommits makes h's waits for the DB wait for the test too. Call it
// before the first Append.
func holdCommits(h *Hub) *heldCommits {
	c := &heldCommits{began: make(chan int, 100)}
	h.waitCommit = c.wait
	return c
}

func (c *heldCommits) wait(ctx context.Context, w persist.Pending) error {
	gate := make(chan struct{})
	c.mu.Lock()
	i := len(c.gates)
	c.gates = append(c.gates, gate)
	c.mu.Unlock()
	select {
	case c.began <- i:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.Wait(ctx)
}

// next returns the index of the next wait to begin. An Append waits once
// its event is in the partition log.
func (c *heldCommits) next(t *testing.T) int {
	t.Helper()
	select {
	case i := <-c.began:
		return i
	case <-testCtx(t).Done():
		t.Fatal("no Append waited for the DB")
		return -1
	}
}

// commit lets wait i see its write committed.
func (c *heldCommits) commit(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.gates[i])
}

type appendResult struct {
	partition string
	seq       int64
	err       error
}

// appendHeld starts an Append and returns once its event is in the log,
// with the gate that holds its commit and where its result will come.
func appendHeld(ctx context.Context, t *testing.T, h *Hub, held *heldCommits, ev Event) (gate int, result <-chan appendResult) {
	t.Helper()
	ch := make(chan appendResult, 1)
	go func() {
		pid, seq, err := h.Append(ctx, ev)
		ch <- appendResult{pid, seq, err}
	}()
	return held.next(t), ch
}

func awaitResult(t *testing.T, result <-chan appendResult) appendResult {
	t.Helper()
	select {
	case r := <-result:
		return r
	case <-testCtx(t).Done():
		t.Fatal("Append did not return")
		return appendResult{}
	}
}

func requireAppended(t *testing.T, result <-chan appendResult, seq int64) {
	t.Helper()
	r := awaitResult(t, result)
	require.NoError(t, r.err)
	require.Equal(t, seq, r.seq)
}

// appendCommitted appends an event and lets it reach disk.
func appendCommitted(t *testing.T, h *Hub, held *heldCommits, ev Event, seq int64) {
	t.Helper()
	gate, result := appendHeld(testCtx(t), t, h, held, ev)
	held.commit(gate)
	requireAppended(t, result, seq)
}

// visibleBodies returns the bodies of the events a receiver can read from
// sequence number seq on, and the channel that says when there are more.
func visibleBodies(t *testing.T, p *partitionLog, seq int64, now time.Time) ([]string, <-chan struct{}) {
	t.Helper()
	buf := make([][]byte, 100)
	n, _, wait := p.read(seq, buf, now)
	out := []string{}
	for _, b := range buf[:n] {
		var m amqp.Message
		require.NoError(t, m.UnmarshalBinary(b))
		out = append(out, string(m.GetData()))
	}
	return out, wait
}

func requireClosed(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
	case <-testCtx(t).Done():
		t.Fatal(msg)
	}
}

func requireOpen(t *testing.T, ch <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatal(msg)
	default:
	}
}

// TestReadersSeeOnlyCommittedEvents: with a DB, an event in the partition
// log but not yet on disk is in nothing a reader observes (reads, partition
// properties, the runtime metric, start positions), and it is in all of
// them once committed.
func TestReadersSeeOnlyCommittedEvents(t *testing.T) {
	t.Parallel()
	d := newDurable(t, nil)
	h := d.env.hub
	held := holdCommits(h)
	dev0, dev1 := deviceFor(h, "0"), deviceFor(h, "1")
	appendCommitted(t, h, held, Event{DeviceID: dev0, Body: []byte("a")}, 0)
	d.clock.Advance(time.Second)
	gateB, resultB := appendHeld(testCtx(t), t, h, held, Event{DeviceID: dev0, Body: []byte("b")})
	gateC, resultC := appendHeld(testCtx(t), t, h, held, Event{DeviceID: dev1, Body: []byte("c")}) // alone in its partition
	st := logStates(h)
	require.Len(t, st[0].Events, 2, "b is in the log")
	offA, offB := st[0].Events[0].offset, st[0].Events[1].offset
	timeA, timeB := st[0].Events[0].enqueued, st[0].Events[1].enqueued
	p0 := h.partition("0")

	// Before the commit.
	got, _ := visibleBodies(t, p0, 0, d.clock.Now())
	assert.Equal(t, []string{"a"}, got, "a receiver reads only a")
	got, wait0 := visibleBodies(t, p0, 1, d.clock.Now())
	assert.Empty(t, got, "nor b from b on")
	requireOpen(t, wait0, "a reader at the end is not woken before the commit")
	got, _ = visibleBodies(t, h.partition("1"), 0, d.clock.Now())
	assert.Empty(t, got)

	s := d.env.session(t)
	mgmt := newMgmtClient(t, s, "$management")
	partition := func(pid string) map[string]any {
		t.Helper()
		code, _, body := mgmt.read(t, map[string]any{"name": "myhub", "type": ManagementTypePartition, "partition": pid})
		require.Equal(t, int32(200), code)
		return body
	}
	want0 := func(last, off, enqueued int64) map[string]any {
		return map[string]any{"begin_sequence_number": int64(0), annotationLastSequenceNumber: last,
			annotationLastOffset: strconv.FormatInt(off, 10), annotationLastEnqueuedTime: time.UnixMilli(enqueued).UTC(),
			"is_partition_empty": false}
	}
	props := func(pid string) map[string]any {
		t.Helper()
		b := partition(pid)
		out := map[string]any{}
		for _, k := range []string{"begin_sequence_number", annotationLastSequenceNumber, annotationLastOffset, annotationLastEnqueuedTime, "is_partition_empty"} {
			out[k] = b[k]
		}
		if tm, ok := out[annotationLastEnqueuedTime].(time.Time); ok && !tm.IsZero() {
			out[annotationLastEnqueuedTime] = tm.UTC()
		}
		return normaliseTimes(out)
	}
	assert.Equal(t, want0(0, offA, timeA), props("0"), "partition properties end with a")
	assert.Equal(t, map[string]any{"begin_sequence_number": int64(0), annotationLastSequenceNumber: int64(-1),
		annotationLastOffset: "-1", annotationLastEnqueuedTime: time.Time{}, "is_partition_empty": true}, props("1"),
		"a partition whose only event is not on disk is empty")

	metricOpts := receiverOpts("amqp.annotation.x-opt-offset > '-1'", nil, 10)
	metricOpts.DesiredCapabilities = []string{RuntimeMetricCapability}
	metric, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), metricOpts)
	require.NoError(t, err)
	m, err := metric.Receive(testCtx(t), nil)
	require.NoError(t, err)
	require.Equal(t, "a", string(m.GetData()))
	assert.Equal(t, int64(0), m.DeliveryAnnotations[annotationLastSequenceNumber], "the runtime metric ends with a")
	assert.Equal(t, strconv.FormatInt(offA, 10), m.DeliveryAnnotations[annotationLastOffset])

	attach := func(filter string) (*amqp.Receiver, error) {
		return s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts(filter, nil, 10))
	}
	refused := []struct{ filter, text string }{
		{"amqp.annotation.x-opt-sequence-number > '1'", "The last sequence number in the system is '0'."},
		{fmt.Sprintf("amqp.annotation.x-opt-offset > '%d'", offB), fmt.Sprintf("The last offset in the system is '%d'.", offA)},
	}
	for _, r := range refused {
		_, err := attach(r.filter)
		ae := requireRefused(t, err, CondArgumentOutOfRange)
		assert.Contains(t, ae.Description, r.text, "%s: b is beyond the end of the stream", r.filter)
	}
	starts := []string{
		"amqp.annotation.x-opt-sequence-number > '0'",
		fmt.Sprintf("amqp.annotation.x-opt-offset >= '%d'", offB),
		fmt.Sprintf("amqp.annotation.x-opt-enqueued-time > '%d'", timeA),
		// Not on disk, b counts as not appended yet: like an event appended
		// after the attach, it comes whatever its enqueued time.
		fmt.Sprintf("amqp.annotation.x-opt-enqueued-time > '%d'", timeB),
	}
	var atB []*amqp.Receiver
	for _, f := range starts {
		r, err := attach(f)
		require.NoError(t, err, f)
		atB = append(atB, r)
	}

	// The commits.
	held.commit(gateB)
	requireAppended(t, resultB, 1)
	held.commit(gateC)
	requireAppended(t, resultC, 0)

	requireClosed(t, wait0, "the commit wakes the readers")
	got, _ = visibleBodies(t, p0, 0, d.clock.Now())
	assert.Equal(t, []string{"a", "b"}, got)
	got, _ = visibleBodies(t, h.partition("1"), 0, d.clock.Now())
	assert.Equal(t, []string{"c"}, got)
	assert.Equal(t, want0(1, offB, timeB), props("0"))
	assert.Equal(t, int64(0), props("1")[annotationLastSequenceNumber])
	assert.Equal(t, false, props("1")["is_partition_empty"])
	m, err = metric.Receive(testCtx(t), nil)
	require.NoError(t, err)
	assert.Equal(t, "b", string(m.GetData()))
	assert.Equal(t, int64(1), m.DeliveryAnnotations[annotationLastSequenceNumber])
	for i, r := range atB {
		m, err := r.Receive(testCtx(t), nil)
		require.NoError(t, err)
		assert.Equal(t, "b", string(m.GetData()), starts[i])
		require.NoError(t, r.Close(testCtx(t))) // a partition takes five plain receivers
	}
	for _, f := range refused {
		r, err := attach(f.filter)
		require.NoError(t, err, "%s: accepted once b is on disk", f.filter)
		require.NoError(t, r.Close(testCtx(t)))
	}
}

// TestLatestWhileAppendWaits: "@latest" starts after the last visible
// event, so a receiver that attaches while an event waits for the disk gets
// that event once it is there, as if it had been appended after the attach.
func TestLatestWhileAppendWaits(t *testing.T) {
	t.Parallel()
	d := newDurable(t, nil)
	h := d.env.hub
	held := holdCommits(h)
	dev := deviceFor(h, "2")
	appendCommitted(t, h, held, Event{DeviceID: dev, Body: []byte("before")}, 0)
	gate, result := appendHeld(testCtx(t), t, h, held, Event{DeviceID: dev, Body: []byte("waiting")})

	latest, err := d.env.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "2"),
		receiverOpts("amqp.annotation.x-opt-offset > '@latest'", nil, 10))
	require.NoError(t, err)
	held.commit(gate)
	requireAppended(t, result, 1)
	appendCommitted(t, h, held, Event{DeviceID: dev, Body: []byte("after")}, 2)

	assert.Equal(t, []string{"waiting", "after"}, receiveBodies(t, latest, 2))
}

// TestCancelledAppendShowsOnCommit: an Append whose ctx ends while it waits
// for the disk returns, but its write goes on, and readers see the event
// once it is committed, with no later append to carry it. If the hub closes
// first, the wait for it ends with the hub.
func TestCancelledAppendShowsOnCommit(t *testing.T) {
	t.Parallel()
	for _, closeFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("hub closes first=%t", closeFirst), func(t *testing.T) {
			t.Parallel()
			d := newDurable(t, nil)
			h := d.env.hub
			held := holdCommits(h)
			p := h.partition("3")
			ctx, cancel := context.WithCancel(testCtx(t))
			_, result := appendHeld(ctx, t, h, held, Event{DeviceID: deviceFor(h, "3"), Body: []byte("x")})
			cancel()
			r := awaitResult(t, result)
			require.ErrorIs(t, r.err, context.Canceled)
			assert.Equal(t, "3", r.partition)
			assert.Contains(t, r.err.Error(), "event 0 of partition 3 may not be on disk")
			got, wait := visibleBodies(t, p, 0, d.clock.Now())
			assert.Empty(t, got, "not visible while not known to be on disk")

			gate := held.next(t) // the hub waits on
			if closeFirst {
				require.NoError(t, h.Close(), "Close does not wait for the commit")
				held.commit(gate)
				requireOpen(t, wait, "a closed hub shows nothing more")
				assert.Equal(t, int64(-1), p.info(d.clock.Now()).lastSeq)
				assert.Equal(t, []int64{0}, storedSeqs(t, d.db, "3"), "the event is on disk all the same")
				return
			}
			held.commit(gate)
			requireClosed(t, wait, "the commit wakes the readers")
			got, _ = visibleBodies(t, p, 0, d.clock.Now())
			assert.Equal(t, []string{"x"}, got)
			assert.Equal(t, int64(0), p.info(d.clock.Now()).lastSeq)
		})
	}
}

// TestCommitsShowInOrder: the DB commits in order, so learning that a
// later event is on disk shows every earlier one too, and an earlier
// Append that learns of its commit last does not move the end back.
func TestCommitsShowInOrder(t *testing.T) {
	t.Parallel()
	d := newDurable(t, nil)
	h := d.env.hub
	held := holdCommits(h)
	dev := deviceFor(h, "0")
	p := h.partition("0")
	gateA, resultA := appendHeld(testCtx(t), t, h, held, Event{DeviceID: dev, Body: []byte("a")})
	gateB, resultB := appendHeld(testCtx(t), t, h, held, Event{DeviceID: dev, Body: []byte("b")})
	offB := logStates(h)[0].Events[1].offset

	held.commit(gateB)
	requireAppended(t, resultB, 1)
	got, _ := visibleBodies(t, p, 0, d.clock.Now())
	assert.Equal(t, []string{"a", "b"}, got, "b on disk means a is")
	held.commit(gateA)
	requireAppended(t, resultA, 0)
	info := p.info(d.clock.Now())
	assert.Equal(t, int64(1), info.lastSeq, "a's commit does not hide b")
	assert.Equal(t, offB, info.lastOffset)
}

// TestTrimBeyondTheVisibleEnd: retention drops events whether or not they
// are visible yet. Readers then see an empty partition that begins after
// its last visible event, never negative counts, until the commits arrive.
func TestTrimBeyondTheVisibleEnd(t *testing.T) {
	t.Parallel()
	d := newDurable(t, &Options{MaxBytes: 1500}) // one 1 KB event at a time
	h := d.env.hub
	held := holdCommits(h)
	dev := deviceFor(h, "1")
	p := h.partition("1")
	body := make([]byte, 1000)
	appendCommitted(t, h, held, Event{DeviceID: dev, Body: body}, 0)
	offA := logStates(h)[1].Events[0].offset
	gateB, resultB := appendHeld(testCtx(t), t, h, held, Event{DeviceID: dev, Body: body})
	gateC, resultC := appendHeld(testCtx(t), t, h, held, Event{DeviceID: dev, Body: []byte("c")})
	require.Equal(t, int64(2), logStates(h)[1].FirstSeq, "a and b are trimmed, c is retained but not visible")

	info := p.info(d.clock.Now())
	assert.Equal(t, partitionInfo{beginSeq: 1, lastSeq: 0, lastOffset: offA, lastTime: info.lastTime, empty: true}, info)
	got, _ := visibleBodies(t, p, 0, d.clock.Now())
	assert.Empty(t, got)
	for _, tt := range []struct {
		pos  startPosition
		want int64
	}{
		{startPosition{kind: startEarliest}, 2},
		{startPosition{kind: startLatest}, 1}, // after a; read skips to c
		{startPosition{kind: startSequence, inclusive: true, value: 0}, 2},
		{startPosition{kind: startOffset, value: offA}, 2},
		{startPosition{kind: startEnqueued, value: 0}, 2},
	} {
		seq, err := p.resolve(tt.pos)
		require.NoError(t, err, "%+v", tt.pos)
		assert.Equal(t, tt.want, seq, "%+v", tt.pos)
	}

	held.commit(gateB)
	requireAppended(t, resultB, 1)
	held.commit(gateC)
	requireAppended(t, resultC, 2)
	info = p.info(d.clock.Now())
	assert.Equal(t, int64(2), info.beginSeq)
	assert.Equal(t, int64(2), info.lastSeq)
	assert.False(t, info.empty)
	got, _ = visibleBodies(t, p, 0, d.clock.Now())
	assert.Equal(t, []string{"c"}, got)
}

// TestNothingShowsAfterTheDiskFails: an event the DB could not commit is
// never visible.
func TestNothingShowsAfterTheDiskFails(t *testing.T) {
	t.Parallel()
	d := newDurable(t, nil)
	h := d.env.hub
	dev := deviceFor(h, "0")
	d.env.appendN(t, dev, 1)
	require.NoError(t, d.db.Close()) // every later write fails
	for range 2 {
		_, _, err := h.Append(testCtx(t), Event{DeviceID: dev, Body: []byte("lost")})
		require.ErrorIs(t, err, persist.ErrClosed)
	}
	info := h.partition("0").info(d.clock.Now())
	assert.Equal(t, int64(0), info.lastSeq)
	got, wait := visibleBodies(t, h.partition("0"), 0, d.clock.Now())
	assert.Equal(t, []string{"event-0"}, got)
	requireOpen(t, wait, "no reader is woken for an event not on disk")

	_, err := d.env.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"),
		receiverOpts("amqp.annotation.x-opt-sequence-number > '1'", nil, 1))
	requireRefused(t, err, CondArgumentOutOfRange)
}
