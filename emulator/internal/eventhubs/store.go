package eventhubs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// The hub's records in the state directory (Options.DB). Integers are
// big-endian unless said otherwise; a record that starts with a format byte
// can change shape in a later release without a new bucket.
//
//	bucket "eventhubs" (the hub):
//	  "created"            8 bytes: creation time, Unix ms (int64)
//	  "partition-count"    4 bytes: uint32
//	  "counters/<id>"      1 byte format (1), then 8 bytes each (int64):
//	                       next sequence number, next offset, enqueued time
//	                       of the last event ever appended (Unix ms), offset
//	                       of that event (-1 before the first)
//	bucket "eventhubs/consumer-groups":
//	  strings.ToLower(name) → the name as first spelt
//	bucket "eventhubs/partition/<id>" (one per partition):
//	  8 bytes: sequence number (uint64) → 1 byte format (1), offset
//	  (unsigned varint), enqueued time in Unix ms (signed varint), then the
//	  complete encoded AMQP message, as receivers get it
//
// Every appended event is put under its sequence number. A trim deletes
// the events before the new first one and puts the partition's counters,
// which is how the numbering survives a restart after every event has
// expired; the counters are not written on every append because the last
// stored event says the same, and Open takes whichever is later.
const (
	hubBucket             = "eventhubs"
	groupsBucket          = "eventhubs/consumer-groups"
	partitionBucketPrefix = "eventhubs/partition/"

	createdKey        = "created"
	partitionCountKey = "partition-count"
	countersKeyPrefix = "counters/"

	recordFormat  = 1
	countersSize  = 1 + 4*8
	maxHeaderSize = 1 + 2*binary.MaxVarintLen64
)

// PartitionCountError is returned by Open when the state directory holds a
// hub with another partition count than Options.Partitions. IoT Hub fixes a
// hub's partition count when the hub is created, so the emulator refuses
// rather than renumber the stored events.
type PartitionCountError struct {
	// Stored is the partition count of the hub in the state directory.
	Stored int
	// Configured is Options.Partitions (4 when it was left zero).
	Configured int
}

func (e *PartitionCountError) Error() string {
	return fmt.Sprintf("eventhubs: the state directory holds a hub with %d partitions, but %d are configured; "+
		"the partition count of a hub cannot change: configure %d partitions or use another state directory",
		e.Stored, e.Configured, e.Stored)
}

// CorruptStateError is returned by Open for a record of the state directory
// that cannot be what this package wrote: a damaged or foreign file.
type CorruptStateError struct {
	// Partition is the partition the record belongs to; "" for the hub's
	// own records.
	Partition string
	// Sequence is the sequence number of the event record; -1 for records
	// that are not events.
	Sequence int64
	// Record names the record: "event", "counters", "created",
	// "partition count" or "consumer group".
	Record string
	// Err says what is wrong with it.
	Err error
}

func (e *CorruptStateError) Error() string {
	var where string
	switch {
	case e.Partition != "" && e.Sequence >= 0:
		where = fmt.Sprintf("%s %d of partition %s", e.Record, e.Sequence, e.Partition)
	case e.Partition != "":
		where = fmt.Sprintf("the %s of partition %s", e.Record, e.Partition)
	default:
		where = "the " + e.Record + " record"
	}
	return fmt.Sprintf("eventhubs: the state directory is damaged: %s: %v", where, e.Err)
}

// Unwrap returns Err.
func (e *CorruptStateError) Unwrap() error { return e.Err }

func partitionBucket(id string) string { return partitionBucketPrefix + id }

func countersKey(id string) []byte { return []byte(countersKeyPrefix + id) }

func seqKey(seq int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(seq)) }

// eventRecord encodes an event's key and value in one allocation. stored
// is data's copy inside value, which the log keeps in place of data, so the
// event's bytes are in memory once.
func eventRecord(seq, offset, enqueued int64, data []byte) (key, value, stored []byte) {
	var hdr [maxHeaderSize]byte
	h := append(hdr[:0], recordFormat)
	h = binary.AppendUvarint(h, uint64(offset))
	h = binary.AppendVarint(h, enqueued)
	buf := make([]byte, 8+len(h)+len(data))
	binary.BigEndian.PutUint64(buf, uint64(seq))
	copy(buf[8:], h)
	copy(buf[8+len(h):], data)
	return buf[:8:8], buf[8:], buf[8+len(h):]
}

// parseEventRecord decodes an event record's value; data aliases v.
func parseEventRecord(v []byte) (offset, enqueued int64, data []byte, err error) {
	if len(v) == 0 {
		return 0, 0, nil, errors.New("the record is empty")
	}
	if v[0] != recordFormat {
		return 0, 0, nil, fmt.Errorf("unknown record format %d", v[0])
	}
	rest := v[1:]
	off, n := binary.Uvarint(rest)
	if n <= 0 || off > math.MaxInt64 {
		return 0, 0, nil, errors.New("the offset is truncated or out of range")
	}
	rest = rest[n:]
	enqueued, n = binary.Varint(rest)
	if n <= 0 {
		return 0, 0, nil, errors.New("the enqueued time is truncated or out of range")
	}
	if rest = rest[n:]; len(rest) == 0 {
		return 0, 0, nil, errors.New("the record holds no message")
	}
	return int64(off), enqueued, rest, nil
}

// counters say where a partition's numbering stands: what it needs to go
// on numbering after a restart, and (partitionLog.visible) where its
// readers see it end.
type counters struct {
	nextSeq, nextOff, lastTime, lastOff int64
}

func (c counters) encode() []byte {
	b := make([]byte, 1, countersSize)
	b[0] = recordFormat
	for _, v := range [...]int64{c.nextSeq, c.nextOff, c.lastTime, c.lastOff} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func parseCounters(b []byte) (counters, error) {
	if len(b) != countersSize || b[0] != recordFormat {
		return counters{}, fmt.Errorf("%d bytes of format %d; want %d bytes of format %d", len(b), firstByte(b), countersSize, recordFormat)
	}
	u := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[1+8*i:])) }
	c := counters{nextSeq: u(0), nextOff: u(1), lastTime: u(2), lastOff: u(3)}
	valid := c.nextSeq >= 0 && c.nextOff >= 0
	if c.nextSeq == 0 {
		valid = valid && c.nextOff == 0 && c.lastOff == -1
	} else {
		valid = valid && c.lastOff >= 0 && c.lastOff < c.nextOff
	}
	if !valid {
		return counters{}, fmt.Errorf("inconsistent values: next sequence number %d, next offset %d, last offset %d", c.nextSeq, c.nextOff, c.lastOff)
	}
	return c, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// trimOpsLocked journals a trim: the events before the first one retained
// go, and the counters say where the numbering stands.
func (p *partitionLog) trimOpsLocked() [2]persist.Op {
	c := p.appendedLocked()
	return [2]persist.Op{
		persist.DeleteBefore(p.bucket, seqKey(p.firstSeq)),
		persist.Put(hubBucket, countersKey(p.id), c.encode()),
	}
}

// load fills a new hub from the state directory and writes back what this
// run adds: the hub's own records on the first run, new consumer groups,
// and the trims of events that expired while the emulator was stopped.
func (h *Hub) load() error {
	db, now := h.opts.DB, h.opts.Now()
	var ops []persist.Op
	fail := func(what string, err error) error {
		return fmt.Errorf("eventhubs: reading %s from the state directory: %w", what, err)
	}

	created, err := db.Get(hubBucket, []byte(createdKey))
	switch {
	case err != nil:
		return fail("the creation time", err)
	case created == nil:
		h.created = now.UTC().Truncate(time.Millisecond)
		ops = append(ops, persist.Put(hubBucket, []byte(createdKey), binary.BigEndian.AppendUint64(nil, uint64(h.created.UnixMilli()))))
	case len(created) != 8:
		return &CorruptStateError{Sequence: -1, Record: "created", Err: fmt.Errorf("%d bytes, not 8", len(created))}
	default:
		h.created = time.UnixMilli(int64(binary.BigEndian.Uint64(created))).UTC()
	}

	count, err := db.Get(hubBucket, []byte(partitionCountKey))
	switch {
	case err != nil:
		return fail("the partition count", err)
	case count == nil:
		ops = append(ops, persist.Put(hubBucket, []byte(partitionCountKey), binary.BigEndian.AppendUint32(nil, uint32(len(h.partitions)))))
	case len(count) != 4:
		return &CorruptStateError{Sequence: -1, Record: "partition count", Err: fmt.Errorf("%d bytes, not 4", len(count))}
	default:
		if n := int(binary.BigEndian.Uint32(count)); n != len(h.partitions) {
			return &PartitionCountError{Stored: n, Configured: len(h.partitions)}
		}
	}

	groupOps, err := h.loadConsumerGroups()
	if err != nil {
		return err
	}
	ops = append(ops, groupOps...)

	for _, p := range h.partitions {
		trimmed, err := p.load(now)
		if err != nil {
			return err
		}
		if trimmed {
			t := p.trimOpsLocked()
			ops = append(ops, t[:]...)
		}
	}
	if err := db.Write(ops...).Wait(context.Background()); err != nil {
		return fmt.Errorf("eventhubs: writing to the state directory: %w", err)
	}
	return nil
}

// loadConsumerGroups makes the hub's groups the union of the stored ones
// and Options.ConsumerGroups: $Default, the configured groups in their
// order (as first spelt), then the groups only a previous run had. It
// returns the puts of the groups not stored yet.
func (h *Hub) loadConsumerGroups() ([]persist.Op, error) {
	stored := map[string]string{}
	var order []string
	err := h.opts.DB.ForEach(groupsBucket, func(k, v []byte) error {
		if len(v) == 0 || strings.ToLower(string(v)) != string(k) {
			return &CorruptStateError{Sequence: -1, Record: "consumer group", Err: fmt.Errorf("key %q holds %q", k, v)}
		}
		stored[string(k)] = string(v)
		order = append(order, string(v))
		return nil
	})
	if err != nil {
		var corrupt *CorruptStateError
		if errors.As(err, &corrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("eventhubs: reading the consumer groups from the state directory: %w", err)
	}
	groups := make([]string, 0, len(h.opts.ConsumerGroups)+len(order))
	for _, g := range h.opts.ConsumerGroups { // $Default first, deduplicated by withDefaults
		if s, ok := stored[strings.ToLower(g)]; ok {
			g = s
		}
		groups = append(groups, g)
	}
	for _, g := range order {
		if !containsFold(groups, g) {
			groups = append(groups, g)
		}
	}
	var ops []persist.Op
	for _, g := range groups {
		if _, ok := stored[strings.ToLower(g)]; !ok {
			ops = append(ops, persist.Put(groupsBucket, []byte(strings.ToLower(g)), []byte(g)))
		}
	}
	h.opts.ConsumerGroups = groups
	return ops, nil
}

// load reads the partition's events and counters back, checking that they
// form the log this package writes: consecutive sequence numbers, each
// offset where the previous event ends, enqueued times that never go back,
// and counters that agree. It then trims what retention no longer keeps and
// reports whether it did; the caller journals the trim.
func (p *partitionLog) load(now time.Time) (trimmed bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	corrupt := func(seq int64, record string, format string, args ...any) error {
		return &CorruptStateError{Partition: p.id, Sequence: seq, Record: record, Err: fmt.Errorf(format, args...)}
	}

	var c *counters
	raw, err := p.db.Get(hubBucket, countersKey(p.id))
	if err != nil {
		return false, fmt.Errorf("eventhubs: reading the counters of partition %s from the state directory: %w", p.id, err)
	}
	if raw != nil {
		v, err := parseCounters(raw)
		if err != nil {
			return false, &CorruptStateError{Partition: p.id, Sequence: -1, Record: "counters", Err: err}
		}
		c = &v
	}

	err = p.db.ForEach(p.bucket, func(k, v []byte) error {
		if len(k) != 8 || int64(binary.BigEndian.Uint64(k)) < 0 {
			return corrupt(-1, "event", "the key %x is not a sequence number", k)
		}
		seq := int64(binary.BigEndian.Uint64(k))
		offset, enqueued, data, err := parseEventRecord(v)
		if err != nil {
			return &CorruptStateError{Partition: p.id, Sequence: seq, Record: "event", Err: err}
		}
		if len(p.events) == 0 {
			// Events before the first go only with a trim, which writes the
			// counters: without counters, the log starts at 0.
			switch {
			case c == nil && (seq != 0 || offset != 0):
				return corrupt(seq, "event", "the partition's first stored event, at offset %d, but nothing was trimmed before it", offset)
			case c != nil && seq > c.nextSeq:
				return corrupt(seq, "event", "the partition's first stored event, but the events from %d are missing", c.nextSeq)
			}
			p.firstSeq = seq
		} else {
			switch {
			case seq != p.nextSeq:
				return corrupt(seq, "event", "events %d to %d are missing", p.nextSeq, seq-1)
			case offset != p.nextOff:
				return corrupt(seq, "event", "the offset is %d, but the previous event ends at %d", offset, p.nextOff)
			case enqueued < p.lastTime:
				return corrupt(seq, "event", "enqueued at %d, before the previous event (%d)", enqueued, p.lastTime)
			}
		}
		p.events = append(p.events, storedEvent{offset: offset, enqueued: enqueued, data: bytes.Clone(data)})
		p.bytes += int64(len(data))
		p.nextSeq, p.nextOff = seq+1, offset+int64(len(data))
		p.lastTime, p.lastOff = enqueued, offset
		return nil
	})
	if err != nil {
		var ce *CorruptStateError
		if errors.As(err, &ce) {
			return false, err
		}
		return false, fmt.Errorf("eventhubs: reading partition %s from the state directory: %w", p.id, err)
	}

	if c != nil {
		if len(p.events) == 0 {
			p.firstSeq, p.nextSeq, p.nextOff, p.lastTime, p.lastOff = c.nextSeq, c.nextSeq, c.nextOff, c.lastTime, c.lastOff
		} else {
			// The counters were written at the last trim; the events since are stored.
			if c.nextSeq > p.nextSeq {
				return false, corrupt(-1, "counters", "%d events were appended, but the last stored event is %d", c.nextSeq, p.nextSeq-1)
			}
			off := p.nextOff
			if i := c.nextSeq - p.firstSeq; i < int64(len(p.events)) {
				off = p.events[i].offset
			}
			if off != c.nextOff {
				return false, corrupt(-1, "counters", "event %d would be at offset %d, but the stored events put it at %d", c.nextSeq, c.nextOff, off)
			}
		}
	}
	p.visible = p.appendedLocked() // everything loaded is on disk
	return p.trimLocked(now), nil
}
