package eventhub

import (
	"time"

	"github.com/Azure/go-amqp"
)

// capabilityRuntimeMetric, desired at attach, makes Event Hubs send the
// partition's last enqueued event with every event, in these delivery
// annotations.
const (
	capabilityRuntimeMetric        = "com.microsoft:enable-receiver-runtime-metric"
	deliveryLastSequenceNumber     = "last_enqueued_sequence_number"
	deliveryLastOffset             = "last_enqueued_offset"
	deliveryLastEnqueuedTime       = "last_enqueued_time_utc"
	deliveryRuntimeInfoRetrievedAt = "runtime_info_retrieval_time_utc"
)

// LastEnqueued describes the newest event of a partition, as the service
// last reported it along with the events a receiver read (see
// ReceiverOptions.TrackLastEnqueued): with the sequence number of the
// event in hand it tells how far behind the reader is.
type LastEnqueued struct {
	// SequenceNumber is the sequence number of the partition's newest event.
	SequenceNumber int64
	// Offset is its offset.
	Offset string
	// EnqueuedTime is when it was enqueued.
	EnqueuedTime time.Time
	// RetrievedAt is when the service read these figures; they grow stale
	// from then on.
	RetrievedAt time.Time
}

// Lag returns how many events the partition held after ev when the
// figures were read: zero when ev was the newest.
func (l LastEnqueued) Lag(ev *Event) int64 {
	if ev == nil {
		return 0
	}
	return max(0, l.SequenceNumber-ev.SequenceNumber)
}

// LastEnqueued returns the partition's newest event as the service last
// reported it, and false until an event with these figures has been
// received (always false without ReceiverOptions.TrackLastEnqueued). It
// may be called concurrently with Receive.
func (r *PartitionReceiver) LastEnqueued() (LastEnqueued, bool) {
	if le := r.lastEnq.Load(); le != nil {
		return *le, true
	}
	return LastEnqueued{}, false
}

// lastEnqueuedOf reads the runtime metric of a received message; false
// when it carries none (or an unreadable sequence number).
func lastEnqueuedOf(m *amqp.Message) (LastEnqueued, bool) {
	if m == nil || len(m.DeliveryAnnotations) == 0 {
		return LastEnqueued{}, false
	}
	da := m.DeliveryAnnotations
	seq, ok := toInt64(da[deliveryLastSequenceNumber])
	if !ok {
		return LastEnqueued{}, false
	}
	return LastEnqueued{
		SequenceNumber: seq,
		Offset:         stringOf(da[deliveryLastOffset]),
		EnqueuedTime:   timeOf(da[deliveryLastEnqueuedTime]),
		RetrievedAt:    timeOf(da[deliveryRuntimeInfoRetrievedAt]),
	}, true
}
