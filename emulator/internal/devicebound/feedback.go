package devicebound

import (
	"encoding/json"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// Feedback status codes, as the hub writes them.
const (
	StatusSuccess               = "Success"
	StatusExpired               = "Expired"
	StatusDeliveryCountExceeded = "DeliveryCountExceeded"
	StatusRejected              = "Rejected"
	StatusPurged                = "Purged"
)

var statusDescriptions = map[string]string{
	StatusSuccess:               "Success",
	StatusExpired:               "Message expired",
	StatusDeliveryCountExceeded: "Message delivery count exceeded",
	StatusRejected:              "Message rejected",
	StatusPurged:                "Message purged",
}

// FeedbackContentType is the content type of feedback batches.
const FeedbackContentType = "application/vnd.microsoft.iothub.feedback.json"

// Record is one feedback record, in the hub's JSON form.
type Record struct {
	OriginalMessageID  string `json:"originalMessageId"`
	Description        string `json:"description"`
	DeviceGenerationID string `json:"deviceGenerationId"`
	DeviceID           string `json:"deviceId"`
	EnqueuedTimeUTC    string `json:"enqueuedTimeUtc"`
	StatusCode         string `json:"statusCode"`
}

// wants reports whether a message with ack asked for feedback of status.
func wants(ack Ack, status string) bool {
	switch ack {
	case AckFull:
		return true
	case AckPositive:
		return status == StatusSuccess
	case AckNegative:
		return status != StatusSuccess
	}
	return false
}

// recordLocked notes the fate of m if its ack asks for it.
func (h *Hub) recordLocked(c *changes, m *Message, k Key, status string) {
	if !wants(m.Ack, status) {
		return
	}
	h.feedback.addLocked(c, Record{
		OriginalMessageID:  m.MessageID,
		Description:        statusDescriptions[status],
		DeviceGenerationID: m.generation,
		DeviceID:           k.DeviceID,
		EnqueuedTimeUTC:    h.opts.Now().UTC().Format(time.RFC3339Nano),
		StatusCode:         status,
	})
}

// feedback gathers records into batches: a batch is released to the outbox
// when it holds size records or interval after its first record. Its
// fields but out are guarded by the Hub's lock, which orders its writes to
// the DB with those of the queues whose changes produce the records.
type feedback struct {
	size     int
	interval time.Duration
	now      func() time.Time
	db       *persist.DB

	pending []Record
	first   time.Time
	nextKey uint64 // the key of the next pending record in the DB

	out *outbox
}

func newFeedback(size int, interval time.Duration, now func() time.Time, db *persist.DB) *feedback {
	return &feedback{size: size, interval: interval, now: now, db: db, out: newOutbox(db, bucketFeedbackOutbox)}
}

func (f *feedback) addLocked(c *changes, r Record) {
	if len(f.pending) == 0 {
		f.first = f.now()
	}
	f.pending = append(f.pending, r)
	if f.db != nil {
		v, _ := json.Marshal(r) // records hold only strings
		c.ops = append(c.ops, persist.Put(bucketFeedbackPending, seqKey(f.nextKey), v))
	}
	f.nextKey++
	if len(f.pending) >= f.size {
		f.flushLocked(c)
	}
}

// flushDueLocked releases the pending batch if it is old enough.
func (f *feedback) flushDueLocked(c *changes) {
	if len(f.pending) > 0 && f.now().Sub(f.first) >= f.interval {
		f.flushLocked(c)
	}
}

// flushLocked turns the pending records into a batch for the outbox, which
// replaces them in the DB in the same write (see Hub.commitLocked).
func (f *feedback) flushLocked(c *changes) {
	if len(f.pending) == 0 {
		return
	}
	body, _ := json.Marshal(f.pending) // records hold only strings
	c.batches = append(c.batches, serviceBound(body, FeedbackContentType, f.now().UTC()))
	if f.db != nil {
		c.ops = append(c.ops, persist.DeleteBefore(bucketFeedbackPending, seqKey(f.nextKey)))
	}
	f.pending = nil
}

// serviceBound builds a service-bound message (a feedback batch, a file
// notification) as the hub sends it, encoded: a JSON body, its content
// type, and the time it was enqueued in the annotations and the creation
// time. The encoding is what the outbox keeps and sends, so a message keeps
// its identity across a restart.
func serviceBound(body []byte, contentType string, enqueued time.Time) []byte {
	m := &amqp.Message{
		Data: [][]byte{body},
		Properties: &amqp.MessageProperties{
			MessageID:    newToken(),
			ContentType:  &contentType,
			CreationTime: &enqueued,
		},
		Annotations: amqp.Annotations{"x-opt-enqueued-time": enqueued},
	}
	payload, err := m.MarshalBinary()
	if err != nil {
		// Only values of types AMQP has no encoding for fail, and the
		// message holds none.
		panic("devicebound: encoding a service-bound message: " + err.Error())
	}
	return payload
}
