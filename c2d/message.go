package c2d

import (
	"fmt"
	"net/url"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/internal/ids"
)

// MaxMessageSize is the largest message the hub queues, once encoded.
const MaxMessageSize = 64 * 1024

// AckType is the delivery feedback a message asks for.
type AckType string

// Feedback requests.
const (
	// AckNone asks for no feedback (the default).
	AckNone AckType = "none"
	// AckPositive asks for feedback when the device completes the message.
	AckPositive AckType = "positive"
	// AckNegative asks for feedback when the message expires, is rejected,
	// is dead-lettered after too many deliveries, or is purged.
	AckNegative AckType = "negative"
	// AckFull asks for both.
	AckFull AckType = "full"
)

// Message is a cloud-to-device message.
type Message struct {
	// Body is the payload, up to 64 KB with everything else.
	Body []byte
	// MessageID identifies the message in feedback. Default: a new UUID,
	// written back into the Message by Send so feedback can be matched.
	MessageID string
	// CorrelationID links the message to another, for the device.
	CorrelationID string
	// UserID names the sender.
	UserID string
	// ContentType and ContentEncoding describe Body (e.g.
	// "application/json", "utf-8").
	ContentType     string
	ContentEncoding string
	// Ack is the feedback wanted. Default: AckNone.
	Ack AckType
	// ExpiryTime is when the hub drops the message if undelivered. Default:
	// the hub's time to live (one hour unless configured otherwise).
	ExpiryTime time.Time
	// Properties are application properties: printable ASCII names and
	// values.
	Properties map[string]string
}

// reservedProperties may not be set through Properties.
var reservedProperties = map[string]string{
	"iothub-ack": "use Message.Ack",
}

// encode checks m and builds its AMQP form, addressed to to.
func encode(m *Message, to string) (*amqp.Message, error) {
	if m == nil {
		return nil, ids.ArgumentInvalid("message is nil")
	}
	switch m.Ack {
	case "", AckNone, AckPositive, AckNegative, AckFull:
	default:
		return nil, ids.ArgumentInvalid("ack %q is not none, positive, negative or full", m.Ack)
	}
	size := len(m.Body) + len(m.MessageID) + len(m.CorrelationID) + len(m.UserID) + len(m.ContentType) + len(m.ContentEncoding) + len(to) + 256
	for k, v := range m.Properties {
		if k == "" {
			return nil, ids.ArgumentInvalid("a property name is empty")
		}
		if why, reserved := reservedProperties[k]; reserved {
			return nil, ids.ArgumentInvalid("property %q is reserved: %s", k, why)
		}
		if i := nonPrintable(k); i >= 0 {
			return nil, ids.ArgumentInvalid("property name %q has a character that is not printable ASCII at byte %d", k, i)
		}
		if i := nonPrintable(v); i >= 0 {
			return nil, ids.ArgumentInvalid("value of property %q has a character that is not printable ASCII at byte %d", k, i)
		}
		size += len(k) + len(v) + 16
	}
	if m.MessageID == "" {
		m.MessageID = ids.NewUUID()
	}
	am := &amqp.Message{
		Data: [][]byte{m.Body},
		Properties: &amqp.MessageProperties{
			MessageID: m.MessageID,
			To:        &to,
		},
	}
	if m.CorrelationID != "" {
		am.Properties.CorrelationID = m.CorrelationID
	}
	if m.UserID != "" {
		am.Properties.UserID = []byte(m.UserID)
	}
	if m.ContentType != "" {
		am.Properties.ContentType = &m.ContentType
	}
	if m.ContentEncoding != "" {
		am.Properties.ContentEncoding = &m.ContentEncoding
	}
	if !m.ExpiryTime.IsZero() {
		t := m.ExpiryTime.UTC()
		am.Properties.AbsoluteExpiryTime = &t
	}
	if len(m.Properties) > 0 || (m.Ack != "" && m.Ack != AckNone) {
		am.ApplicationProperties = make(map[string]any, len(m.Properties)+1)
		for k, v := range m.Properties {
			am.ApplicationProperties[k] = v
		}
		if m.Ack != "" && m.Ack != AckNone {
			am.ApplicationProperties["iothub-ack"] = string(m.Ack)
		}
	}
	// size is an upper bound of the encoding; only near the limit is the
	// message encoded to know exactly.
	if size > MaxMessageSize {
		b, err := am.MarshalBinary()
		if err != nil {
			return nil, ids.ArgumentInvalid("message does not encode: %v", err)
		}
		if len(b) > MaxMessageSize {
			return nil, &iothub.Error{StatusCode: 413, Code: iothub.CodeMessageTooLarge, Name: iothub.CodeMessageTooLarge.String(),
				Message: fmt.Sprintf("message is %d bytes once encoded; the hub queues at most %d", len(b), MaxMessageSize)}
		}
	}
	return am, nil
}

// nonPrintable returns the index of the first byte outside printable ASCII,
// or -1.
func nonPrintable(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return i
		}
	}
	return -1
}

// address returns the "to" of a message for a device or module.
func address(deviceID, moduleID string) string {
	if moduleID == "" {
		return "/devices/" + url.PathEscape(deviceID) + "/messages/devicebound"
	}
	return "/devices/" + url.PathEscape(deviceID) + "/modules/" + url.PathEscape(moduleID) + "/messages/devicebound"
}
