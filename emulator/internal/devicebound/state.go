package devicebound

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// The Hub's buckets in the state directory.
//
//   - bucketMessages: every queued message, locked ones too, under
//     uvarint(len(deviceID)) deviceID uvarint(len(moduleID)) moduleID
//     id(8 bytes, big-endian), so that a device's queues, or one queue,
//     share a key prefix. The value is a storedMessage in JSON.
//   - bucketFeedbackPending: the records of the feedback batch not yet
//     released, under an 8-byte big-endian sequence number, each a Record
//     in JSON.
//   - bucketFeedbackOutbox, bucketFileOutbox: the service-bound messages
//     not yet accepted or rejected by a receiver, under an 8-byte
//     big-endian sequence number, each in its AMQP encoding as sent.
const (
	bucketMessages        = "devicebound.messages"
	bucketFeedbackPending = "devicebound.feedback.pending"
	bucketFeedbackOutbox  = "devicebound.feedback.outbox"
	bucketFileOutbox      = "devicebound.filenotifications.outbox"
)

// changes gathers what one step under the Hub's lock does to the state, to
// be handed to the DB in one write, so that it is committed as one: a
// message leaves its queue in the same transaction that adds its feedback
// record, and a batch replaces its records in the outbox likewise.
type changes struct {
	ops     []persist.Op
	batches [][]byte // feedback batches released, encoded, for the outbox
}

// commitLocked hands c to the DB, the feedback batches it released to
// their outbox, and returns the write to wait for before answering.
func (h *Hub) commitLocked(c *changes) persist.Pending {
	if len(c.batches) > 0 {
		return h.feedback.out.add(c.batches, c.ops)
	}
	return h.db.Write(c.ops...)
}

// keepLocked writes m as it is now: queued, received (its delivery count)
// or requeued (its order).
func (h *Hub) keepLocked(c *changes, q *queue, m *Message) {
	if h.db != nil {
		c.ops = append(c.ops, persist.Put(bucketMessages, messageKey(q.prefix, m.id), encodeMessage(m)))
	}
}

// dropLocked removes m from the DB.
func (h *Hub) dropLocked(c *changes, q *queue, m *Message) {
	if h.db != nil {
		c.ops = append(c.ops, persist.Delete(bucketMessages, messageKey(q.prefix, m.id)))
	}
}

// devicePrefix starts the keys of every queue of a device.
func devicePrefix(deviceID string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(deviceID)))
	return append(b, deviceID...)
}

// queuePrefix starts the keys of the messages of one queue.
func queuePrefix(k Key) []byte {
	b := binary.AppendUvarint(devicePrefix(k.DeviceID), uint64(len(k.ModuleID)))
	return append(b, k.ModuleID...)
}

func messageKey(prefix []byte, id uint64) []byte {
	b := make([]byte, 0, len(prefix)+8)
	return binary.BigEndian.AppendUint64(append(b, prefix...), id)
}

// parseMessageKey reads a key of bucketMessages.
func parseMessageKey(b []byte) (Key, uint64, bool) {
	dev, b, ok1 := cutString(b)
	mod, b, ok2 := cutString(b)
	if !ok1 || !ok2 || dev == "" || len(b) != 8 {
		return Key{}, 0, false
	}
	return Key{DeviceID: dev, ModuleID: mod}, binary.BigEndian.Uint64(b), true
}

// cutString reads a length-prefixed string off the front of b.
func cutString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func parseSeqKey(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// storedMessage is a queued message in the DB. Properties and Body have no
// omitempty, so nil and empty come back as they were.
type storedMessage struct {
	Order           int64             `json:"order"`
	MessageID       string            `json:"messageId,omitempty"`
	CorrelationID   string            `json:"correlationId,omitempty"`
	UserID          string            `json:"userId,omitempty"`
	To              string            `json:"to,omitempty"`
	ContentType     string            `json:"contentType,omitempty"`
	ContentEncoding string            `json:"contentEncoding,omitempty"`
	Body            []byte            `json:"body"`
	Properties      map[string]string `json:"properties"`
	Ack             Ack               `json:"ack"`
	EnqueuedTime    time.Time         `json:"enqueuedTime"`
	ExpiryTime      time.Time         `json:"expiryTime"`
	DeliveryCount   int               `json:"deliveryCount"`
	GenerationID    string            `json:"generationId,omitempty"`
}

func encodeMessage(m *Message) []byte {
	v, err := json.Marshal(storedMessage{
		Order: m.order, MessageID: m.MessageID, CorrelationID: m.CorrelationID, UserID: m.UserID, To: m.To,
		ContentType: m.ContentType, ContentEncoding: m.ContentEncoding, Body: m.Body, Properties: m.Properties,
		Ack: m.Ack, EnqueuedTime: m.EnqueuedTime, ExpiryTime: m.ExpiryTime, DeliveryCount: m.DeliveryCount,
		GenerationID: m.generation,
	})
	if err != nil {
		// Only a time outside the years 0 to 9999 fails, and Enqueue keeps
		// expiry times within them (keepable).
		panic("devicebound: encoding a message: " + err.Error())
	}
	return v
}

func decodeMessage(v []byte) (*Message, error) {
	var s storedMessage
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, err
	}
	switch s.Ack {
	case AckNone, AckPositive, AckNegative, AckFull:
	default:
		return nil, fmt.Errorf("unknown ack %q", s.Ack)
	}
	if s.DeliveryCount < 0 {
		return nil, fmt.Errorf("delivery count %d", s.DeliveryCount)
	}
	return &Message{
		MessageID: s.MessageID, CorrelationID: s.CorrelationID, UserID: s.UserID, To: s.To,
		ContentType: s.ContentType, ContentEncoding: s.ContentEncoding, Body: s.Body, Properties: s.Properties,
		Ack: s.Ack, EnqueuedTime: s.EnqueuedTime, ExpiryTime: s.ExpiryTime, DeliveryCount: s.DeliveryCount,
		generation: s.GenerationID, order: s.Order,
	}, nil
}

// lastKeepable is the last expiry time JSON can hold; later ones are as
// good as never.
var lastKeepable = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// keepable brings an expiry time within the years JSON can hold: one
// before the year 1 has long passed, one after 9999 will not come.
func keepable(t time.Time) time.Time {
	switch {
	case t.Year() < 1:
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	case t.After(lastKeepable):
		return lastKeepable
	}
	return t
}

// errState wraps what cannot be read back from the DB.
func errState(bucket string, what string, err error) error {
	return fmt.Errorf("devicebound: the state directory's %s: %s: %w", bucket, what, err)
}

var errMalformedKey = errors.New("malformed key")

// load reads back what the DB kept: the outboxes, the pending feedback,
// then the queues, whose expired messages add to that feedback.
func (h *Hub) load() error {
	if h.db == nil {
		return nil
	}
	for _, o := range []*outbox{h.feedback.out, h.files} {
		if err := o.load(); err != nil {
			return err
		}
	}
	if err := h.feedback.load(); err != nil {
		return err
	}
	return h.loadQueues()
}

func (o *outbox) load() error {
	return o.db.ForEach(o.bucket, func(k, v []byte) error {
		n, ok := parseSeqKey(k)
		if !ok {
			return errState(o.bucket, fmt.Sprintf("key %x", k), errMalformedKey)
		}
		var m amqp.Message
		if err := m.UnmarshalBinary(v); err != nil {
			return errState(o.bucket, fmt.Sprintf("message %d", n), err)
		}
		o.items = append(o.items, outItem{key: n, payload: bytes.Clone(v)})
		o.nextKey = n + 1
		return nil
	})
}

func (f *feedback) load() error {
	err := f.db.ForEach(bucketFeedbackPending, func(k, v []byte) error {
		n, ok := parseSeqKey(k)
		if !ok {
			return errState(bucketFeedbackPending, fmt.Sprintf("key %x", k), errMalformedKey)
		}
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return errState(bucketFeedbackPending, fmt.Sprintf("record %d", n), err)
		}
		if _, ok := statusDescriptions[r.StatusCode]; !ok {
			return errState(bucketFeedbackPending, fmt.Sprintf("record %d", n), fmt.Errorf("unknown status %q", r.StatusCode))
		}
		f.pending = append(f.pending, r)
		f.nextKey = n + 1
		return nil
	})
	if err != nil || len(f.pending) == 0 {
		return err
	}
	// The batch is as old as its first record, so that one the restart
	// delayed goes out at once.
	f.first = f.now()
	if t, err := time.Parse(time.RFC3339Nano, f.pending[0].EnqueuedTimeUTC); err == nil && t.Before(f.first) {
		f.first = t
	}
	return nil
}

// loadQueues reads back the queued messages: each ready, in its order, but
// those that expired (feedback Expired) or used up their deliveries
// (DeliveryCountExceeded, as a lock time-out would find them) while the
// hub was down. OnCount is told the depth of every queue read.
func (h *Hub) loadQueues() error {
	var keys []Key
	byKey := map[Key][]*Message{}
	err := h.db.ForEach(bucketMessages, func(key, v []byte) error {
		k, id, ok := parseMessageKey(key)
		if !ok {
			return errState(bucketMessages, fmt.Sprintf("key %x", key), errMalformedKey)
		}
		m, err := decodeMessage(v)
		if err != nil {
			return errState(bucketMessages, fmt.Sprintf("message %d of %s", id, describe(k)), err)
		}
		m.id = id
		if _, seen := byKey[k]; !seen {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], m)
		h.nextID = max(h.nextID, id+1)
		return nil
	})
	if err != nil {
		return err
	}
	now := h.opts.Now()
	h.mu.Lock()
	var c changes
	for _, k := range keys {
		msgs := byKey[k]
		slices.SortStableFunc(msgs, func(a, b *Message) int { return cmp.Compare(a.order, b.order) })
		q := h.queueLocked(k)
		q.first, q.next = msgs[0].order, msgs[len(msgs)-1].order+1
		for _, m := range msgs {
			switch {
			case !now.Before(m.ExpiryTime):
				h.dropLocked(&c, q, m)
				h.recordLocked(&c, m, k, StatusExpired)
			case m.DeliveryCount >= h.opts.MaxDeliveryCount:
				h.dropLocked(&c, q, m)
				h.recordLocked(&c, m, k, StatusDeliveryCountExceeded)
			default:
				q.ready = append(q.ready, m)
			}
		}
		h.countLocked(k, q)
	}
	p := h.commitLocked(&c)
	h.mu.Unlock()
	if err := p.Wait(context.Background()); err != nil {
		return fmt.Errorf("devicebound: keeping what expired while the hub was down: %w", err)
	}
	return nil
}
