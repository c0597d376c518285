package eventhubs

import (
	"sort"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// storedEvent is one event of a partition log. data is the complete encoded
// AMQP message, annotations included, written once at append and never
// modified, so readers may keep it after releasing the lock.
type storedEvent struct {
	offset   int64
	enqueued int64 // Unix milliseconds, the precision of an AMQP timestamp
	data     []byte
}

// partitionLog is the retained events of one partition. Sequence numbers
// start at 0 and offsets are byte positions in the partition's stream (the
// sum of the encoded sizes of every earlier event), so both only grow, as in
// Event Hubs; dropping old events moves the beginning, never renumbers.
type partitionLog struct {
	id string
	// db keeps the log across restarts (see store.go); nil keeps nothing.
	// bucket holds the partition's events there.
	db     *persist.DB
	bucket string

	mu        sync.Mutex
	events    []storedEvent // events[head:] are retained
	head      int
	firstSeq  int64 // sequence number of events[head]
	nextSeq   int64
	nextOff   int64
	bytes     int64 // encoded size of the retained events
	lastTime  int64 // enqueued time of the last event ever appended, Unix ms
	lastOff   int64 // offset of the last event ever appended; -1 before the first
	changed   chan struct{}
	retention time.Duration
	maxBytes  int64

	// visible is where the partition ends for its readers: the counters as
	// they stood after the last event on disk. With a DB, the events from
	// visible.nextSeq on are in memory but maybe not committed; a crash
	// would lose them and give their numbers again, so no reader may see
	// them, or a consumer that checkpointed one would skip the event that
	// takes its number after the restart. Without a DB it follows the
	// appends. Trims ignore it: visible.nextSeq may be below firstSeq.
	// changed is closed and replaced when it moves.
	visible counters
}

func newPartitionLog(id string, retention time.Duration, maxBytes int64, db *persist.DB) *partitionLog {
	return &partitionLog{id: id, db: db, bucket: partitionBucket(id), lastOff: -1, visible: counters{lastOff: -1},
		changed: make(chan struct{}), retention: retention, maxBytes: maxBytes}
}

// appendedLocked returns the counters after the last event appended, on
// disk or not.
func (p *partitionLog) appendedLocked() counters {
	return counters{nextSeq: p.nextSeq, nextOff: p.nextOff, lastTime: p.lastTime, lastOff: p.lastOff}
}

// reserveLocked returns the sequence number, offset and enqueued time the
// next event gets. The caller encodes the event with them and calls
// commitLocked while still holding p.mu.
func (p *partitionLog) reserveLocked(now time.Time) (seq, offset, enqueued int64) {
	enqueued = now.UnixMilli()
	if enqueued < p.lastTime {
		enqueued = p.lastTime // a clock that steps back must not reorder the log
	}
	return p.nextSeq, p.nextOff, enqueued
}

// commitLocked appends an encoded event and trims what retention no longer
// keeps. Without a DB, readers see the event at once and are woken. With
// one, it hands the event and the trim to the DB and returns the write,
// which the caller waits for after releasing p.mu, then shows the event to
// readers with show(upto): upto is the counters after the event.
func (p *partitionLog) commitLocked(offset, enqueued int64, data []byte, now time.Time) (w persist.Pending, upto counters) {
	var ops [3]persist.Op // the event, then a trim's two
	n := 0
	if p.db != nil {
		key, value, stored := eventRecord(p.nextSeq, offset, enqueued, data)
		ops[n], data = persist.Put(p.bucket, key, value), stored
		n++
	}
	p.events = append(p.events, storedEvent{offset: offset, enqueued: enqueued, data: data})
	p.nextSeq++
	p.nextOff += int64(len(data))
	p.bytes += int64(len(data))
	p.lastTime, p.lastOff = enqueued, offset
	upto = p.appendedLocked()
	if p.trimLocked(now) && p.db != nil {
		trim := p.trimOpsLocked()
		n += copy(ops[n:], trim[:])
	}
	if p.db == nil {
		p.showLocked(upto)
		return persist.Pending{}, upto
	}
	return p.db.Write(ops[:n]...), upto
}

// show lets readers see the events before upto.nextSeq, once they are on
// disk. The DB commits in order, so an event on disk means every earlier
// one is too, whichever Append learns it first.
func (p *partitionLog) show(upto counters) {
	p.mu.Lock()
	p.showLocked(upto)
	p.mu.Unlock()
}

// showLocked moves the end readers see forward to upto, never back, and
// wakes the readers waiting there.
func (p *partitionLog) showLocked(upto counters) {
	if upto.nextSeq <= p.visible.nextSeq {
		return
	}
	p.visible = upto
	close(p.changed)
	p.changed = make(chan struct{})
}

// visibleEndLocked returns the index in p.events of the first event readers
// may not see; events[head:visibleEndLocked()] are the ones they may.
func (p *partitionLog) visibleEndLocked() int {
	return p.head + int(max(p.visible.nextSeq-p.firstSeq, 0))
}

// expireLocked trims the log on the read path. The trim goes to the DB
// without waiting: a reader must not wait for the disk, and losing the
// trim in a crash only makes the next start drop the same events again.
func (p *partitionLog) expireLocked(now time.Time) {
	if p.trimLocked(now) && p.db != nil {
		ops := p.trimOpsLocked()
		_ = p.db.Write(ops[:]...)
	}
}

// trimLocked drops events older than the retention period, then the oldest
// events while the log holds more than maxBytes. It reports whether it
// dropped any; the caller journals the drop (trimOpsLocked).
func (p *partitionLog) trimLocked(now time.Time) bool {
	cutoff := now.Add(-p.retention).UnixMilli()
	first := p.firstSeq
	for p.head < len(p.events) {
		e := &p.events[p.head]
		overSize := p.maxBytes > 0 && p.bytes > p.maxBytes
		if e.enqueued >= cutoff && !overSize {
			break
		}
		p.bytes -= int64(len(e.data))
		*e = storedEvent{} // release the data
		p.head++
		p.firstSeq++
	}
	// Compact once the dropped prefix dominates, so the slice does not grow forever.
	if p.head > 1024 && p.head*2 > len(p.events) {
		n := copy(p.events, p.events[p.head:])
		clear(p.events[n:])
		p.events = p.events[:n]
		p.head = 0
	}
	return p.firstSeq != first
}

// read copies up to len(buf) visible events from sequence number seq on
// into buf. It returns how many it copied, the sequence number of the
// first (later than seq when those events are gone) and, when there is
// nothing to read, a channel closed when more events become visible.
func (p *partitionLog) read(seq int64, buf [][]byte, now time.Time) (n int, first int64, wait <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked(now)
	if seq < p.firstSeq {
		seq = p.firstSeq
	}
	i, end := p.head+int(seq-p.firstSeq), p.visibleEndLocked()
	for n < len(buf) && i < end {
		buf[n] = p.events[i].data
		n++
		i++
	}
	if n == 0 {
		return 0, seq, p.changed
	}
	return n, seq, nil
}

// partitionInfo is what $management and the runtime metric report for a
// partition: what its readers see of it.
type partitionInfo struct {
	beginSeq, lastSeq int64
	lastOffset        int64
	lastTime          int64 // Unix ms; meaningless when lastSeq < 0
	empty             bool
}

// info describes the visible events. When retention has dropped events
// that were not visible yet, the partition looks empty, beginning after its
// last visible event, until the watermark passes them.
func (p *partitionLog) info(now time.Time) partitionInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expireLocked(now)
	v := p.visible
	return partitionInfo{
		beginSeq:   min(p.firstSeq, v.nextSeq),
		lastSeq:    v.nextSeq - 1,
		lastOffset: v.lastOff,
		lastTime:   v.lastTime,
		empty:      p.firstSeq >= v.nextSeq,
	}
}

// seekLocked returns the sequence number of the first retained, visible
// event whose key (offset or enqueued time) is above v, or at least v when
// inclusive; when there is none, the sequence number after the visible
// events (firstSeq if retention dropped those not visible yet).
func (p *partitionLog) seekLocked(inclusive bool, key func(*storedEvent) int64, v int64) int64 {
	live := p.events[p.head:p.visibleEndLocked()]
	i := sort.Search(len(live), func(i int) bool {
		k := key(&live[i])
		if inclusive {
			return k >= v
		}
		return k > v
	})
	return p.firstSeq + int64(i)
}
