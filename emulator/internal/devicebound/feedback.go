package devicebound

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/Azure/go-amqp"
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
func (h *Hub) recordLocked(m *Message, k Key, status string) {
	if !wants(m.Ack, status) {
		return
	}
	h.feedback.add(Record{
		OriginalMessageID:  m.MessageID,
		Description:        statusDescriptions[status],
		DeviceGenerationID: m.generation,
		DeviceID:           k.DeviceID,
		EnqueuedTimeUTC:    h.opts.Now().UTC().Format(time.RFC3339Nano),
		StatusCode:         status,
	})
}

// feedback gathers records into batches: a batch is released to the outbox
// when it holds size records or interval after its first record.
type feedback struct {
	size     int
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	pending []Record
	first   time.Time

	out *outbox
}

func newFeedback(size int, interval time.Duration, now func() time.Time) *feedback {
	return &feedback{size: size, interval: interval, now: now, out: newOutbox()}
}

func (f *feedback) add(r Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) == 0 {
		f.first = f.now()
	}
	f.pending = append(f.pending, r)
	if len(f.pending) >= f.size {
		f.flushLocked()
	}
}

// flushDue releases the pending batch if it is old enough.
func (f *feedback) flushDue() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) > 0 && f.now().Sub(f.first) >= f.interval {
		f.flushLocked()
	}
}

func (f *feedback) flushLocked() {
	body, _ := json.Marshal(f.pending) // records hold only strings
	f.out.push(serviceBound(body, FeedbackContentType, f.now().UTC()), false)
	f.pending = nil
}

func (f *feedback) close() { f.out.close() }

// serviceBound builds a service-bound message (a feedback batch, a file
// notification) as the hub sends it: a JSON body, its content type, and the
// time it was enqueued in the annotations and the creation time.
func serviceBound(body []byte, contentType string, enqueued time.Time) *amqp.Message {
	return &amqp.Message{
		Data: [][]byte{body},
		Properties: &amqp.MessageProperties{
			MessageID:    newToken(),
			ContentType:  &contentType,
			CreationTime: &enqueued,
		},
		Annotations: amqp.Annotations{"x-opt-enqueued-time": enqueued},
	}
}
