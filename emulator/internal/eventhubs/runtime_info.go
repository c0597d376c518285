package eventhubs

import (
	"bytes"
	"strconv"
	"time"

	"github.com/Azure/go-amqp"
)

// Delivery annotations Event Hubs adds to every event sent to a receiver
// that asked for RuntimeMetricCapability: where the partition ends when
// the event is sent, so that a reader knows how far behind it is. The
// first three name the same figures in a $management partition answer.
const (
	annotationLastSequenceNumber = "last_enqueued_sequence_number"
	annotationLastOffset         = "last_enqueued_offset"
	annotationLastEnqueuedTime   = "last_enqueued_time_utc"
	annotationRetrievalTime      = "runtime_info_retrieval_time_utc"
)

// runtimeInfoSection encodes the delivery-annotations section describing
// the partition's last enqueued event, retrieved at now. It returns nil
// for a partition that has never held an event.
func runtimeInfoSection(pi partitionInfo, now time.Time) []byte {
	if pi.lastSeq < 0 {
		return nil
	}
	m := amqp.Message{DeliveryAnnotations: amqp.Annotations{
		annotationLastSequenceNumber: pi.lastSeq,
		annotationLastOffset:         strconv.FormatInt(pi.lastOffset, 10),
		annotationLastEnqueuedTime:   time.UnixMilli(pi.lastTime).UTC(),
		annotationRetrievalTime:      now.UTC(),
	}}
	b, err := m.MarshalBinary()
	if err != nil {
		return nil // annotations of these types always encode
	}
	return b
}

// messageAnnotationsDescriptor opens a message-annotations section: the
// first section of every stored event (encodeEvent writes no header).
var messageAnnotationsDescriptor = []byte{0x00, 0x53, 0x72}

// withRuntimeInfo returns the stored event payload with the delivery
// annotations section info put where AMQP wants it: after a header, before
// the message annotations. A payload that does not start with message
// annotations is decoded and encoded again.
func withRuntimeInfo(payload, info []byte) []byte {
	if bytes.HasPrefix(payload, messageAnnotationsDescriptor) {
		out := make([]byte, 0, len(info)+len(payload))
		return append(append(out, info...), payload...)
	}
	var m, da amqp.Message
	if m.UnmarshalBinary(payload) != nil || da.UnmarshalBinary(info) != nil {
		return payload
	}
	m.DeliveryAnnotations = da.DeliveryAnnotations
	b, err := m.MarshalBinary()
	if err != nil {
		return payload
	}
	return b
}
