package eventhubs

import (
	"sort"
	"sync"
	"time"
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
}

func newPartitionLog(id string, retention time.Duration, maxBytes int64) *partitionLog {
	return &partitionLog{id: id, lastOff: -1, changed: make(chan struct{}), retention: retention, maxBytes: maxBytes}
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

// commitLocked appends an encoded event, trims what retention no longer
// keeps and wakes the readers.
func (p *partitionLog) commitLocked(offset, enqueued int64, data []byte, now time.Time) {
	p.events = append(p.events, storedEvent{offset: offset, enqueued: enqueued, data: data})
	p.nextSeq++
	p.nextOff += int64(len(data))
	p.bytes += int64(len(data))
	p.lastTime, p.lastOff = enqueued, offset
	p.trimLocked(now)
	close(p.changed)
	p.changed = make(chan struct{})
}

// trimLocked drops events older than the retention period, then the oldest
// events while the log holds more than maxBytes.
func (p *partitionLog) trimLocked(now time.Time) {
	cutoff := now.Add(-p.retention).UnixMilli()
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
}

// read copies up to len(buf) events from sequence number seq on into buf.
// It returns how many it copied, the sequence number of the first (later
// than seq when those events are gone) and, when there is nothing to read,
// a channel closed by the next append.
func (p *partitionLog) read(seq int64, buf [][]byte, now time.Time) (n int, first int64, wait <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trimLocked(now)
	if seq < p.firstSeq {
		seq = p.firstSeq
	}
	i := p.head + int(seq-p.firstSeq)
	for n < len(buf) && i < len(p.events) {
		buf[n] = p.events[i].data
		n++
		i++
	}
	if n == 0 {
		return 0, seq, p.changed
	}
	return n, seq, nil
}

// partitionInfo is what $management reports for a partition.
type partitionInfo struct {
	beginSeq, lastSeq int64
	lastOffset        int64
	lastTime          int64 // Unix ms; meaningless when lastSeq < 0
	empty             bool
}

func (p *partitionLog) info(now time.Time) partitionInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trimLocked(now)
	return partitionInfo{
		beginSeq:   p.firstSeq,
		lastSeq:    p.nextSeq - 1,
		lastOffset: p.lastOff,
		lastTime:   p.lastTime,
		empty:      p.head == len(p.events),
	}
}

// seekLocked returns the sequence number of the first retained event whose
// key (offset or enqueued time) is above v, or at least v when inclusive;
// the next sequence number when there is none.
func (p *partitionLog) seekLocked(inclusive bool, key func(*storedEvent) int64, v int64) int64 {
	live := p.events[p.head:]
	i := sort.Search(len(live), func(i int) bool {
		k := key(&live[i])
		if inclusive {
			return k >= v
		}
		return k > v
	})
	return p.firstSeq + int64(i)
}
