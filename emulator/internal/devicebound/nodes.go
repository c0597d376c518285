package devicebound

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// Node addresses the service side uses.
const (
	AddressDevicebound       = "/messages/devicebound"
	AddressFeedback          = "/messages/serviceBound/feedback"
	AddressFileNotifications = "/messages/serviceBound/filenotifications"
)

// Register serves the three service-side nodes on srv. authorize checks
// each attach (the CBS grant of the connection); nil allows everything.
func (h *Hub) Register(srv *amqpserver.Server, authorize func(l *amqpserver.Link) error) error {
	if authorize == nil {
		authorize = func(*amqpserver.Link) error { return nil }
	}
	if err := srv.Handle(AddressDevicebound, &amqpserver.Node{
		Incoming: func(l *amqpserver.IncomingLink) (amqpserver.MessageHandler, error) {
			if err := authorize(l.Link); err != nil {
				return nil, err
			}
			return h.onDevicebound, nil
		},
	}); err != nil {
		return err
	}
	for addr, box := range map[string]*outbox{AddressFeedback: h.feedback.out, AddressFileNotifications: h.files} {
		if err := srv.Handle(addr, &amqpserver.Node{
			Outgoing: func(l *amqpserver.OutgoingLink) error {
				if err := authorize(l.Link); err != nil {
					return err
				}
				go box.serve(l)
				return nil
			},
		}); err != nil {
			return err
		}
	}
	return nil
}

func reject(cond, format string, args ...any) amqpserver.Outcome {
	return &amqpserver.Rejected{Error: &amqpserver.Error{Condition: cond, Description: fmt.Sprintf(format, args...)}}
}

// onDevicebound queues one message sent by the service.
func (h *Hub) onDevicebound(d *amqpserver.Delivery) amqpserver.Outcome {
	msg := d.Message
	var to string
	if msg.Properties != nil && msg.Properties.To != nil {
		to = *msg.Properties.To
	}
	k, ok := ParseTo(to)
	if !ok {
		return reject(amqpserver.CondInvalidField, "the message's to property %q is not /devices/{id}/messages/devicebound or /devices/{id}/modules/{mid}/messages/devicebound", to)
	}
	m := &Message{To: to, Body: Body(msg), Properties: map[string]string{}, Ack: AckNone}
	if p := msg.Properties; p != nil {
		m.MessageID = IDString(p.MessageID)
		m.CorrelationID = IDString(p.CorrelationID)
		m.UserID = string(p.UserID)
		if p.ContentType != nil {
			m.ContentType = *p.ContentType
		}
		if p.ContentEncoding != nil {
			m.ContentEncoding = *p.ContentEncoding
		}
		if p.AbsoluteExpiryTime != nil && !p.AbsoluteExpiryTime.IsZero() {
			m.ExpiryTime = *p.AbsoluteExpiryTime
		}
	}
	for name, v := range msg.ApplicationProperties {
		if name == "iothub-ack" {
			ack := Ack(fmt.Sprint(v))
			switch ack {
			case AckNone, AckPositive, AckNegative, AckFull:
				m.Ack = ack
			default:
				return reject(amqpserver.CondInvalidField, "iothub-ack is %q; it must be none, positive, negative or full", ack)
			}
			continue
		}
		m.Properties[name] = fmt.Sprint(v)
	}
	if !m.ExpiryTime.IsZero() && !m.ExpiryTime.After(h.opts.Now()) {
		// Already expired: accepted, then expired at once, as the hub does.
		m.ExpiryTime = h.opts.Now().Add(time.Nanosecond)
	}
	if h.db == nil {
		return enqueueOutcome(k, h.Enqueue(k, m, d.Size())) // nothing to wait for
	}
	p, err := h.enqueue(k, m, d.Size(), true)
	if err != nil {
		return enqueueOutcome(k, err)
	}
	// The handler runs on the connection's read goroutine, which must not
	// wait on the disk: the delivery is settled once the message is kept
	// (for a pre-settled one, Settle only marks it done).
	go func() {
		defer h.settling.Done()
		_ = d.Settle(enqueueOutcome(k, h.enqueued(k, m, p)))
	}()
	return nil
}

// enqueueOutcome is the service's answer to a send that Enqueue answered with err.
func enqueueOutcome(k Key, err error) amqpserver.Outcome {
	switch {
	case err == nil:
		return amqpserver.Accepted{}
	case errors.Is(err, ErrTooLarge):
		return reject(amqpserver.CondMessageSizeExceeded, "MessageTooLarge (413001): %v", err)
	case errors.Is(err, ErrQueueFull):
		return reject(amqpserver.CondResourceLimitExceeded, "DeviceMaximumQueueDepthExceeded (403004): %v", err)
	case errors.Is(err, ErrDeviceNotFound):
		return reject(amqpserver.CondNotFound, "DeviceNotFound (404001): device '%s' is not registered", k.DeviceID)
	case errors.Is(err, ErrModuleNotFound):
		return reject(amqpserver.CondNotFound, "ModuleNotFound (404010): module '%s' of device '%s' is not registered", k.ModuleID, k.DeviceID)
	}
	return reject(amqpserver.CondInternalError, "%v", err)
}

// ParseTo reads a devicebound address: /devices/{id}/messages/devicebound
// or /devices/{id}/modules/{mid}/messages/devicebound, ids URL-escaped.
func ParseTo(to string) (Key, bool) {
	segs := strings.Split(strings.Trim(to, "/"), "/")
	unescape := func(s string) (string, bool) {
		u, err := url.PathUnescape(s)
		return u, err == nil && u != ""
	}
	switch {
	case len(segs) == 4 && strings.EqualFold(segs[0], "devices") && strings.EqualFold(segs[2], "messages") && strings.EqualFold(segs[3], "devicebound"):
		id, ok := unescape(segs[1])
		return Key{DeviceID: id}, ok
	case len(segs) == 6 && strings.EqualFold(segs[0], "devices") && strings.EqualFold(segs[2], "modules") &&
		strings.EqualFold(segs[4], "messages") && strings.EqualFold(segs[5], "devicebound"):
		id, ok1 := unescape(segs[1])
		mid, ok2 := unescape(segs[3])
		return Key{DeviceID: id, ModuleID: mid}, ok1 && ok2
	}
	return Key{}, false
}

// Body is the payload of an AMQP message: its data sections joined, or its
// value as bytes.
func Body(m *amqp.Message) []byte {
	switch {
	case len(m.Data) > 0:
		var out []byte
		for _, d := range m.Data {
			out = append(out, d...)
		}
		return out
	case m.Value != nil:
		switch v := m.Value.(type) {
		case []byte:
			return v
		case string:
			return []byte(v)
		}
		return []byte(fmt.Sprint(m.Value))
	}
	return nil
}

// IDString writes an AMQP message-id or correlation-id (a string, a
// uuid, binary or a number) as text.
func IDString(v any) string {
	switch id := v.(type) {
	case nil:
		return ""
	case string:
		return id
	case []byte:
		return string(id)
	case amqp.UUID:
		return id.String()
	}
	return fmt.Sprint(v)
}
