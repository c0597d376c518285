package c2d

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/go-amqp"
)

// errDiscard tells receiveLoop to reject a message that cannot be decoded.
var errDiscard = errors.New("c2d: discard undecodable message")

// FeedbackStatus is what became of a message.
type FeedbackStatus int

// Feedback statuses, numbered as the hub's older numeric form.
const (
	// StatusSuccess: the device completed the message.
	StatusSuccess FeedbackStatus = iota
	// StatusExpired: the message expired before the device completed it.
	StatusExpired
	// StatusDeliveryCountExceeded: the device abandoned it too many times.
	StatusDeliveryCountExceeded
	// StatusRejected: the device rejected it.
	StatusRejected
	// StatusPurged: the queue was purged.
	StatusPurged
)

var statusNames = [...]string{"Success", "Expired", "DeliveryCountExceeded", "Rejected", "Purged"}

// String returns the hub's name of the status.
func (s FeedbackStatus) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "FeedbackStatus(" + strconv.Itoa(int(s)) + ")"
}

// UnmarshalJSON accepts the string forms ("Success", any case) and the
// older numeric ones (0–4).
func (s *FeedbackStatus) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if n, err := strconv.Atoi(string(b)); err == nil {
		if n < 0 || n >= len(statusNames) {
			return fmt.Errorf("feedback status %d is unknown", n)
		}
		*s = FeedbackStatus(n)
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("feedback status %s is neither a name nor a number", b)
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < len(statusNames) {
		*s = FeedbackStatus(n)
		return nil
	}
	for i, n := range statusNames {
		if strings.EqualFold(n, name) {
			*s = FeedbackStatus(i)
			return nil
		}
	}
	return fmt.Errorf("feedback status %q is unknown", name)
}

// MarshalJSON writes the string form.
func (s FeedbackStatus) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// FeedbackRecord is the fate of one message.
type FeedbackRecord struct {
	OriginalMessageID  string         `json:"originalMessageId"`
	DeviceID           string         `json:"deviceId"`
	DeviceGenerationID string         `json:"deviceGenerationId"`
	EnqueuedTime       time.Time      `json:"enqueuedTimeUtc"`
	StatusCode         FeedbackStatus `json:"statusCode"`
	Description        string         `json:"description"`
}

// FeedbackBatch is a batch of records the hub delivers together.
type FeedbackBatch struct {
	// EnqueuedTime is when the hub released the batch.
	EnqueuedTime time.Time
	// Records hold one entry per message.
	Records []FeedbackRecord
}

// ReceiveFeedback receives delivery feedback until ctx ends, calling
// handler for each batch, one at a time. A nil return completes the batch;
// an error abandons it and the hub delivers it again (to this or another
// receiver). Lost links and connections are recovered; ReceiveFeedback
// returns ctx's error when ctx ends, or an error that retrying cannot cure
// (such as [iothub.ErrUnauthorized]).
func (c *Client) ReceiveFeedback(ctx context.Context, handler func(ctx context.Context, b *FeedbackBatch) error) error {
	return c.receiveLoop(ctx, "/messages/serviceBound/feedback", func(ctx context.Context, m *amqp.Message) error {
		b, err := decodeFeedback(m)
		if err != nil {
			c.warn(ctx, "iothub: discarding a feedback batch that does not decode", err)
			return errDiscard
		}
		return handler(ctx, b)
	})
}

func decodeFeedback(m *amqp.Message) (*FeedbackBatch, error) {
	b := &FeedbackBatch{EnqueuedTime: enqueuedTime(m)}
	if err := json.Unmarshal(m.GetData(), &b.Records); err != nil {
		return nil, fmt.Errorf("feedback batch body: %w", err)
	}
	return b, nil
}

// enqueuedTime reads the message's x-opt-enqueued-time annotation, or its
// creation time.
func enqueuedTime(m *amqp.Message) time.Time {
	if t, ok := m.Annotations["x-opt-enqueued-time"].(time.Time); ok {
		return t
	}
	if m.Properties != nil && m.Properties.CreationTime != nil {
		return *m.Properties.CreationTime
	}
	return time.Time{}
}

func (c *Client) warn(ctx context.Context, msg string, err error) {
	if c.opts.Logger != nil {
		c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, msg, slog.String("error", err.Error()))
	}
}
