package eventhub

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/internal/amqpvalue"
)

// Event is one telemetry message read from a partition.
type Event struct {
	// Body is the message body: the data section(s), or the AMQP value when
	// it is a string or bytes. Nil for an empty body.
	Body []byte
	// Value is the body when the sender used an AMQP value or sequence of
	// another type (a number, map, list…), decoded as go-amqp decodes it.
	// Nil for ordinary telemetry.
	Value any
	// Properties are the application properties the device set, with the
	// types the wire carried (string, int64, float64, bool, time.Time,
	// []byte, amqp.UUID, nested maps and lists…).
	Properties map[string]any

	// DeviceID is the id of the device that sent the message
	// (iothub-connection-device-id).
	DeviceID string
	// ModuleID is the id of the module that sent it, if a module did.
	ModuleID string
	// MessageID and CorrelationID are the message's ids as text (their
	// original types are in SystemProperties).
	MessageID, CorrelationID string
	// ContentType and ContentEncoding describe the body, e.g.
	// "application/json" and "utf-8".
	ContentType, ContentEncoding string
	// EnqueuedTime is when the hub enqueued the message.
	EnqueuedTime time.Time
	// Offset is the event's offset in its partition.
	Offset string
	// SequenceNumber is the event's sequence number in its partition.
	SequenceNumber int64
	// PartitionID is the partition the event was read from.
	PartitionID string

	// msg is the message as received, read by SystemProperties.
	msg *amqp.Message
}

// System property names the typed fields come from.
const (
	annotationOffset         = "x-opt-offset"
	annotationSequenceNumber = "x-opt-sequence-number"
	annotationEnqueuedTime   = "x-opt-enqueued-time"
	annotationDeviceID       = "iothub-connection-device-id"
	annotationModuleID       = "iothub-connection-module-id"
)

// newEvent decodes a received message. It never fails: a field of an
// unexpected type is left zero in the typed fields and kept as it came in
// SystemProperties.
func newEvent(m *amqp.Message, partitionID string) *Event {
	e := &Event{PartitionID: partitionID, Properties: m.ApplicationProperties}
	switch len(m.Data) {
	case 0:
		switch v := m.Value.(type) {
		case nil:
		case []byte:
			e.Body = v
		case string:
			e.Body = []byte(v)
		default:
			e.Value = v
		}
		if e.Value == nil && len(m.Sequence) > 0 {
			e.Value = m.Sequence
		}
	case 1:
		e.Body = m.Data[0]
	default:
		n := 0
		for _, d := range m.Data {
			n += len(d)
		}
		e.Body = make([]byte, 0, n)
		for _, d := range m.Data {
			e.Body = append(e.Body, d...)
		}
	}
	for k, v := range m.Annotations {
		key, _ := k.(string)
		switch key {
		case annotationOffset:
			e.Offset = stringOf(v)
		case annotationSequenceNumber:
			e.SequenceNumber, _ = toInt64(v)
		case annotationEnqueuedTime:
			e.EnqueuedTime = timeOf(v)
		case annotationDeviceID:
			e.DeviceID, _ = v.(string)
		case annotationModuleID:
			e.ModuleID, _ = v.(string)
		}
	}
	if p := m.Properties; p != nil {
		if p.MessageID != nil {
			e.MessageID = stringOf(p.MessageID)
		}
		if p.CorrelationID != nil {
			e.CorrelationID = stringOf(p.CorrelationID)
		}
		if p.ContentType != nil {
			e.ContentType = *p.ContentType
		}
		if p.ContentEncoding != nil {
			e.ContentEncoding = *p.ContentEncoding
		}
	}
	e.msg = m
	return e
}

// SystemProperties returns the message annotations the hub and the
// endpoint added (x-opt-offset, iothub-connection-device-id,
// iothub-enqueuedtime…) and the message's standard properties under their
// AMQP names (message-id, correlation-id, content-type, content-encoding,
// user-id, to, subject, reply-to, absolute-expiry-time, creation-time,
// group-id, group-sequence, reply-to-group-id), each with its wire type.
// An annotation whose key is not a string is keyed by its text.
//
// The typed fields (Offset, DeviceID, MessageID…) hold what most readers
// need; this map is built on each call, so that reading them costs
// nothing, and the caller may keep or change it.
func (e *Event) SystemProperties() map[string]any {
	m := e.msg
	if m == nil {
		return map[string]any{}
	}
	n := len(m.Annotations)
	if m.Properties != nil {
		n += 4
	}
	sp := make(map[string]any, n)
	for k, v := range m.Annotations {
		key, ok := k.(string)
		if !ok {
			key = fmt.Sprint(k)
		}
		sp[key] = v
	}
	p := m.Properties
	if p == nil {
		return sp
	}
	if p.MessageID != nil {
		sp["message-id"] = p.MessageID
	}
	if p.CorrelationID != nil {
		sp["correlation-id"] = p.CorrelationID
	}
	if p.UserID != nil {
		sp["user-id"] = p.UserID
	}
	putString(sp, "content-type", p.ContentType)
	putString(sp, "content-encoding", p.ContentEncoding)
	putString(sp, "to", p.To)
	putString(sp, "subject", p.Subject)
	putString(sp, "reply-to", p.ReplyTo)
	putString(sp, "group-id", p.GroupID)
	putString(sp, "reply-to-group-id", p.ReplyToGroupID)
	if p.AbsoluteExpiryTime != nil {
		sp["absolute-expiry-time"] = *p.AbsoluteExpiryTime
	}
	if p.CreationTime != nil {
		sp["creation-time"] = *p.CreationTime
	}
	if p.GroupSequence != nil {
		sp["group-sequence"] = *p.GroupSequence
	}
	return sp
}

func putString(m map[string]any, k string, v *string) {
	if v != nil {
		m[k] = *v
	}
}

// stringOf renders an id or offset of any wire type as text.
func stringOf(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		if utf8.Valid(v) {
			return string(v)
		}
		return hex.EncodeToString(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case amqp.UUID:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// toInt64 reads an integer of any AMQP width, or its decimal text (some
// peers send sequence numbers as strings).
func toInt64(v any) (int64, bool) {
	if n, ok := amqpvalue.Int64(v); ok {
		return n, true
	}
	if s, ok := v.(string); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func timeOf(v any) time.Time {
	switch v := v.(type) {
	case time.Time:
		return v
	case int64:
		return time.UnixMilli(v).UTC()
	}
	return time.Time{}
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
