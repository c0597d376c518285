package eventhubs

import (
	"context"
	"encoding/binary"
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

// openDB opens the state directory dir until the end of the test.
func openDB(t testing.TB, dir string) *persist.DB {
	t.Helper()
	db, err := persist.Open(dir, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() }) // a second Close is harmless
	return db
}

// durable runs hubs one after the other on the same state directory and
// the same fake clock, as a standalone emulator that restarts does.
type durable struct {
	dir   string
	opts  Options
	clock *fakeClock
	db    *persist.DB
	env   *env
}

func newDurable(t *testing.T, opts *Options) *durable {
	t.Helper()
	d := &durable{dir: t.TempDir(), clock: newFakeClock()}
	if opts != nil {
		d.opts = *opts
	}
	d.opts.Now = d.clock.Now
	d.start(t)
	return d
}

func (d *durable) start(t *testing.T) {
	t.Helper()
	d.db = openDB(t, d.dir)
	o := d.opts
	o.DB = d.db
	d.env = newEnv(t, &o)
	d.env.clock = d.clock
}

// stop closes the hub, then the DB, as the emulator shuts down.
func (d *durable) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, d.env.hub.Close())
	require.NoError(t, d.db.Close())
}

func (d *durable) restart(t *testing.T) {
	t.Helper()
	d.stop(t)
	d.start(t)
}

// logState is a partition log as Open must rebuild it.
type logState struct {
	FirstSeq, NextSeq, NextOff, Bytes, LastTime, LastOff int64
	Events                                               []storedEvent
}

func logStates(h *Hub) []logState {
	var out []logState
	for _, p := range h.partitions {
		p.mu.Lock()
		out = append(out, logState{p.firstSeq, p.nextSeq, p.nextOff, p.bytes, p.lastTime, p.lastOff,
			append([]storedEvent{}, p.events[p.head:]...)})
		p.mu.Unlock()
	}
	return out
}

// storedSeqs lists the sequence numbers of the events the state directory
// holds for a partition.
func storedSeqs(t *testing.T, db *persist.DB, pid string) []int64 {
	t.Helper()
	require.NoError(t, db.Sync(testCtx(t)))
	seqs := []int64{}
	require.NoError(t, db.ForEach(partitionBucket(pid), func(k, _ []byte) error {
		seqs = append(seqs, int64(binary.BigEndian.Uint64(k)))
		return nil
	}))
	return seqs
}

// received is what a consumer sees of an event.
type received struct {
	Annotations           amqp.Annotations
	Data                  [][]byte
	Properties            *amqp.MessageProperties
	ApplicationProperties map[string]any
}

// receiveFrom reads n events of a partition from where filter says.
func receiveFrom(t *testing.T, s *amqp.Session, pid, filter string, n int) []received {
	t.Helper()
	r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", pid), receiverOpts(filter, nil, int32(max(n, 1))))
	require.NoError(t, err)
	defer r.Close(testCtx(t))
	out := []received{}
	for range n {
		m, err := r.Receive(testCtx(t), nil)
		require.NoError(t, err)
		out = append(out, received{m.Annotations, m.Data, m.Properties, m.ApplicationProperties})
	}
	return out
}

func bodiesOf(rs []received) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Data[0]))
	}
	return out
}

func TestRestartKeepsPartitions(t *testing.T) {
	t.Parallel()
	d := newDurable(t, &Options{MaxBytes: 4096})
	h := d.env.hub
	dev0, dev3 := deviceFor(h, "0"), deviceFor(h, "3")
	for i := range 5 {
		_, _, err := h.Append(testCtx(t), Event{DeviceID: dev0, ModuleID: "sensor", Body: []byte(fmt.Sprintf("event-%d", i)),
			Properties: map[string]any{"i": int64(i)}, MessageID: fmt.Sprintf("m%d", i), ContentType: "application/json"})
		require.NoError(t, err)
		d.clock.Advance(time.Second)
	}
	for range 10 { // about 1.3 KB each: MaxBytes keeps the last three
		_, _, err := h.Append(testCtx(t), Event{DeviceID: dev3, Body: make([]byte, 1000)})
		require.NoError(t, err)
	}
	before := logStates(h)
	require.Len(t, before[0].Events, 5)
	off := func(i int) int64 { return before[0].Events[i].offset }
	enq := func(i int) int64 { return before[0].Events[i].enqueued }

	reads := []struct {
		name, filter string
		want         []string
	}{
		{"earliest", "", bodies(0, 5)},
		{"after an offset", fmt.Sprintf("amqp.annotation.x-opt-offset > '%d'", off(1)), bodies(2, 5)},
		{"from an offset", fmt.Sprintf("amqp.annotation.x-opt-offset >= '%d'", off(1)), bodies(1, 5)},
		{"after a sequence number", "amqp.annotation.x-opt-sequence-number > '2'", bodies(3, 5)},
		{"from a sequence number", "amqp.annotation.x-opt-sequence-number >= '2'", bodies(2, 5)},
		{"after an enqueued time", fmt.Sprintf("amqp.annotation.x-opt-enqueued-time > '%d'", enq(3)), bodies(4, 5)},
		{"from an enqueued time", fmt.Sprintf("amqp.annotation.x-opt-enqueued-time >= '%d'", enq(3)), bodies(3, 5)},
	}
	observe := func(t *testing.T) (hub, p0, p1, p3 map[string]any, got [][]received) {
		s := d.env.session(t)
		c := newMgmtClient(t, s, "$management")
		var code int32
		code, _, hub = c.read(t, map[string]any{"name": "myhub", "type": ManagementTypeEventHub})
		require.Equal(t, int32(200), code)
		part := func(pid string) map[string]any {
			code, _, body := c.read(t, map[string]any{"name": "myhub", "type": ManagementTypePartition, "partition": pid})
			require.Equal(t, int32(200), code)
			return body
		}
		p0, p1, p3 = part("0"), part("1"), part("3")
		for _, r := range reads {
			rs := receiveFrom(t, s, "0", r.filter, len(r.want))
			require.Equal(t, r.want, bodiesOf(rs), r.name)
			got = append(got, rs)
		}
		return hub, p0, p1, p3, got
	}
	hub1, p0, p1, p3, got1 := observe(t)
	assert.Equal(t, int64(7), p3["begin_sequence_number"], "size trims happened before the restart")

	assert.Equal(t, []int64{7, 8, 9}, storedSeqs(t, d.db, "3"), "trims delete the dropped events from the state file")

	d.clock.Advance(time.Minute) // a hub that took its creation time from the clock would show it
	d.restart(t)

	assert.Equal(t, before, logStates(d.env.hub), "the logs are rebuilt exactly")
	hub2, q0, q1, q3, got2 := observe(t)
	assert.Equal(t, hub1, hub2, "hub properties, created_at included")
	assert.Equal(t, p0, q0, "partition 0 properties")
	assert.Equal(t, p1, q1, "an empty partition's properties")
	assert.Equal(t, p3, q3, "a trimmed partition's properties")
	for i, r := range reads {
		assert.Equal(t, got1[i], got2[i], r.name)
	}

	// New events go on with the numbering, after the old ones.
	s := d.env.session(t)
	latest, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts("amqp.annotation.x-opt-offset > '@latest'", nil, 10))
	require.NoError(t, err)
	pid, seq, err := d.env.hub.Append(testCtx(t), Event{DeviceID: dev0, Body: []byte("after")})
	require.NoError(t, err)
	assert.Equal(t, "0", pid)
	assert.Equal(t, int64(5), seq)
	m, err := latest.Receive(testCtx(t), nil)
	require.NoError(t, err)
	assert.Equal(t, "after", string(m.GetData()))
	assert.Equal(t, int64(5), m.Annotations["x-opt-sequence-number"])
	assert.Equal(t, strconv.FormatInt(before[0].NextOff, 10), m.Annotations["x-opt-offset"])
	assert.Equal(t, int64(10), logStates(d.env.hub)[3].NextSeq)
}

func TestRestartRetention(t *testing.T) {
	t.Parallel()
	d := newDurable(t, &Options{Retention: time.Hour})
	dev := deviceFor(d.env.hub, "0")
	d.env.appendN(t, dev, 2) // seq 0 and 1, at T and T+1s
	d.clock.Advance(30 * time.Minute)
	d.env.appendN(t, dev, 2) // seq 2 and 3, at T+30m2s
	last := logStates(d.env.hub)[0]

	d.stop(t)
	d.clock.Advance(40 * time.Minute) // stopped while 0 and 1 expire
	d.start(t)
	st := logStates(d.env.hub)[0]
	assert.Equal(t, int64(2), st.FirstSeq)
	assert.Equal(t, last.Events[2:], st.Events)
	assert.Equal(t, []int64{2, 3}, storedSeqs(t, d.db, "0"), "Open deletes what expired while stopped")

	d.stop(t)
	d.clock.Advance(2 * time.Hour) // everything expires
	d.start(t)
	info := d.env.hub.partition("0").info(d.clock.Now())
	assert.True(t, info.empty)
	assert.Equal(t, partitionInfo{beginSeq: 4, lastSeq: 3, lastOffset: last.LastOff, lastTime: last.LastTime, empty: true}, info,
		"the last enqueued event is still reported once expired")
	assert.Empty(t, storedSeqs(t, d.db, "0"))

	// Once every event has expired, the numbering survives another restart.
	d.restart(t)
	_, seq, err := d.env.hub.Append(testCtx(t), Event{DeviceID: dev, Body: []byte("new")})
	require.NoError(t, err)
	assert.Equal(t, int64(4), seq)
	st = logStates(d.env.hub)[0]
	require.Len(t, st.Events, 1)
	assert.Equal(t, last.NextOff, st.Events[0].offset, "offsets go on from where they were")
	assert.Equal(t, int64(4), st.FirstSeq)
}

func TestReadPathTrimIsJournaled(t *testing.T) {
	t.Parallel()
	d := newDurable(t, &Options{Retention: time.Hour})
	d.env.appendN(t, deviceFor(d.env.hub, "2"), 3)
	require.Equal(t, []int64{0, 1, 2}, storedSeqs(t, d.db, "2"))
	d.clock.Advance(2 * time.Hour)
	info := d.env.hub.partition("2").info(d.clock.Now()) // a $management READ, say
	require.True(t, info.empty)
	assert.Empty(t, storedSeqs(t, d.db, "2"), "a trim on the read path reaches the state file")
	raw, err := d.db.Get(hubBucket, countersKey("2"))
	require.NoError(t, err)
	c, err := parseCounters(raw)
	require.NoError(t, err)
	assert.Equal(t, int64(3), c.nextSeq)
}

// TestAppendIsDurable checks from concurrent appenders that an event is in
// the state file when Append returns, and that the logs they built come
// back whole.
func TestAppendIsDurable(t *testing.T) {
	t.Parallel()
	d := newDurable(t, nil)
	h := d.env.hub
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				pid, seq, err := h.Append(context.Background(), Event{DeviceID: fmt.Sprintf("device-%d-%d", g, i%3), Body: []byte("x")})
				if !assert.NoError(t, err) {
					return
				}
				v, err := d.db.Get(partitionBucket(pid), seqKey(seq))
				assert.NoError(t, err)
				assert.NotNil(t, v, "event %d of partition %s is on disk when Append returns", seq, pid)
			}
		})
	}
	wg.Wait()
	before := logStates(h)
	var total int64
	for _, st := range before {
		total += st.NextSeq
	}
	require.Equal(t, int64(200), total)
	d.restart(t)
	assert.Equal(t, before, logStates(d.env.hub))
}

func TestAppendWhenTheDiskFails(t *testing.T) {
	t.Parallel()
	d := newDurable(t, nil)
	require.NoError(t, d.db.Close())
	pid, seq, err := d.env.hub.Append(testCtx(t), Event{DeviceID: "d", Body: []byte("x")})
	require.ErrorIs(t, err, persist.ErrClosed)
	assert.Contains(t, err.Error(), fmt.Sprintf("event %d of partition %s", seq, pid))
	assert.Equal(t, d.env.hub.PartitionFor("d"), pid, "the error says which event failed")
}

func TestOpenPartitionCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		stored, configured int
		want               *PartitionCountError // nil: no error
	}{
		{"more than stored", 4, 8, &PartitionCountError{Stored: 4, Configured: 8}},
		{"fewer than stored", 8, 2, &PartitionCountError{Stored: 8, Configured: 2}},
		{"the default against another", 8, 0, &PartitionCountError{Stored: 8, Configured: 4}},
		{"the same", 3, 3, nil},
		{"the default against itself", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := openDB(t, dir)
			h, err := Open(&Options{DB: db, Partitions: tt.stored})
			require.NoError(t, err)
			require.NoError(t, h.Close())

			h, err = Open(&Options{DB: db, Partitions: tt.configured})
			if tt.want == nil {
				require.NoError(t, err)
				require.NoError(t, h.Close())
				return
			}
			require.Nil(t, h)
			var pce *PartitionCountError
			require.ErrorAs(t, err, &pce)
			assert.Equal(t, tt.want, pce)
			assert.Contains(t, err.Error(), fmt.Sprintf("%d partitions", tt.want.Stored))
			assert.Contains(t, err.Error(), fmt.Sprintf("but %d are configured", tt.want.Configured))
			assert.Panics(t, func() { New(&Options{DB: db, Partitions: tt.configured}) }, "New panics where Open fails")
		})
	}
}

func TestOpenCorruptState(t *testing.T) {
	t.Parallel()
	p1 := partitionBucket("1")
	put := func(bucket string, key, value []byte) func(*testing.T, *persist.DB) {
		return func(t *testing.T, db *persist.DB) {
			require.NoError(t, db.Write(persist.Put(bucket, key, value)).Wait(testCtx(t)))
		}
	}
	del := func(seq int64) func(*testing.T, *persist.DB) {
		return func(t *testing.T, db *persist.DB) {
			require.NoError(t, db.Write(persist.Delete(p1, seqKey(seq))).Wait(testCtx(t)))
		}
	}
	// rewrite re-encodes event seq of partition 1 after change.
	rewrite := func(seq int64, change func(offset, enqueued *int64)) func(*testing.T, *persist.DB) {
		return func(t *testing.T, db *persist.DB) {
			v, err := db.Get(p1, seqKey(seq))
			require.NoError(t, err)
			off, enq, data, err := parseEventRecord(v)
			require.NoError(t, err)
			change(&off, &enq)
			key, value, _ := eventRecord(seq, off, enq, data)
			put(p1, key, value)(t, db)
		}
	}
	tests := []struct {
		name      string
		damage    func(*testing.T, *persist.DB)
		partition string
		seq       int64
		record    string
		text      string
	}{
		{"unknown record format", put(p1, seqKey(1), []byte{9, 0, 0, 1}), "1", 1, "event", "unknown record format 9"},
		{"empty record", put(p1, seqKey(1), []byte{}), "1", 1, "event", "empty"},
		{"truncated offset", put(p1, seqKey(1), []byte{recordFormat, 0x80}), "1", 1, "event", "offset is truncated"},
		{"no message", put(p1, seqKey(1), []byte{recordFormat, 0, 0}), "1", 1, "event", "no message"},
		{"a missing event", del(1), "1", 2, "event", "events 1 to 1 are missing"},
		{"the first event missing", del(0), "1", 1, "event", "nothing was trimmed before it"},
		{"an offset out of place", rewrite(2, func(off, _ *int64) { *off++ }), "1", 2, "event", "the previous event ends at"},
		{"a time going back", rewrite(2, func(_, enq *int64) { *enq = 0 }), "1", 2, "event", "before the previous event"},
		{"a key that is no sequence number", put(p1, []byte("x"), []byte{recordFormat, 0, 0, 1}), "1", -1, "event", "not a sequence number"},
		{"counters of another size", put(hubBucket, countersKey("1"), []byte{recordFormat, 2}), "1", -1, "counters", "2 bytes"},
		{"counters that do not add up", put(hubBucket, countersKey("1"), counters{nextSeq: 0, nextOff: 5, lastOff: -1}.encode()), "1", -1, "counters", "inconsistent"},
		{"counters ahead of the events", put(hubBucket, countersKey("1"), counters{nextSeq: 10, nextOff: 9000, lastOff: 8000}.encode()), "1", -1, "counters", "10 events were appended, but the last stored event is 2"},
		{"counters at another offset", put(hubBucket, countersKey("1"), counters{nextSeq: 3, nextOff: 7, lastOff: 6}.encode()), "1", -1, "counters", "event 3 would be at offset 7"},
		{"created", put(hubBucket, []byte(createdKey), []byte{1}), "", -1, "created", "1 bytes, not 8"},
		{"partition count", put(hubBucket, []byte(partitionCountKey), []byte{1}), "", -1, "partition count", "1 bytes, not 4"},
		{"consumer group", put(groupsBucket, []byte("abc"), []byte("xyz")), "", -1, "consumer group", `"abc" holds "xyz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDurable(t, nil)
			d.env.appendN(t, deviceFor(d.env.hub, "1"), 3)
			d.stop(t)
			db := openDB(t, d.dir)
			tt.damage(t, db)

			var h *Hub
			var err error
			require.NotPanics(t, func() { h, err = Open(&Options{DB: db, Now: d.clock.Now}) })
			require.Nil(t, h)
			var ce *CorruptStateError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.partition, ce.Partition)
			assert.Equal(t, tt.seq, ce.Sequence)
			assert.Equal(t, tt.record, ce.Record)
			assert.Contains(t, err.Error(), tt.text)
			if tt.partition != "" {
				assert.Contains(t, err.Error(), "partition "+tt.partition)
			}
			if tt.seq >= 0 {
				assert.Contains(t, err.Error(), fmt.Sprintf("event %d of partition", tt.seq))
			}
		})
	}
}

func TestRestartConsumerGroups(t *testing.T) {
	t.Parallel()
	d := newDurable(t, &Options{ConsumerGroups: []string{"alerts", "Archive"}})
	assert.Equal(t, []string{"$Default", "alerts", "Archive"}, d.env.hub.ConsumerGroups())

	d.stop(t)
	d.opts.ConsumerGroups = []string{"ARCHIVE", "reports"}
	d.start(t)
	assert.Equal(t, []string{"$Default", "Archive", "reports", "alerts"}, d.env.hub.ConsumerGroups(),
		"the configured groups as first spelt, then those only a previous run had")
	r, err := d.env.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "ALERTS", "0"), receiverOpts("", nil, 1))
	require.NoError(t, err, "a group of the first run takes receivers")
	require.NoError(t, r.Close(testCtx(t)))

	d.stop(t)
	d.opts.ConsumerGroups = nil
	d.start(t)
	assert.Equal(t, []string{"$Default", "alerts", "Archive", "reports"}, d.env.hub.ConsumerGroups())
}

func TestWithoutDB(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	h, err := Open(&Options{Now: clock.Now})
	require.NoError(t, err)
	_, _, err = h.Append(testCtx(t), Event{DeviceID: "d", Body: []byte("x")})
	require.NoError(t, err)
	require.NoError(t, h.Close())
	for _, p := range h.partitions {
		assert.Nil(t, p.db)
	}

	clock.Advance(time.Hour)
	h = New(&Options{Now: clock.Now})
	defer h.Close()
	for _, st := range logStates(h) {
		assert.Equal(t, logState{LastOff: -1, Events: []storedEvent{}}, st, "a hub without a DB starts empty")
	}
	assert.Equal(t, clock.Now(), h.created, "and is created now")
}

func TestEventRecordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		seq, off, enq int64
		data          []byte
	}{
		{"first", 0, 0, 1_700_000_000_000, []byte{0x00, 0x53, 0x72}},
		{"large numbers", 1<<62 + 3, 1<<62 + 5, -1, []byte("m")},
		{"before 1970", 7, 300, -86_400_000, make([]byte, 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, value, stored := eventRecord(tt.seq, tt.off, tt.enq, tt.data)
			assert.Equal(t, seqKey(tt.seq), key)
			assert.Equal(t, tt.data, stored)
			off, enq, data, err := parseEventRecord(value)
			require.NoError(t, err)
			assert.Equal(t, tt.off, off)
			assert.Equal(t, tt.enq, enq)
			assert.Equal(t, tt.data, data)
			assert.LessOrEqual(t, len(value)-len(tt.data), maxHeaderSize)
		})
	}
}
