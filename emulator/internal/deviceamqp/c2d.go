package deviceamqp

import (
	"context"
	"encoding/hex"
	"sync"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
)

// attachDevicebound takes the device's C2D receiver and streams its queue
// on it.
func (fe *frontEnd) attachDevicebound(l *amqpserver.OutgoingLink) error {
	id, err := fe.admit(l.Link)
	if err != nil {
		return err
	}
	if !l.Go(func(ctx context.Context) { id.pumpC2D(ctx, l) }) {
		return &amqpserver.Error{Condition: amqpserver.CondConnectionForced, Description: "the emulator is shutting down"}
	}
	return nil
}

// pumpC2D sends the queue's messages while the device grants credit: a
// message is locked only when it can go out at once, so its lock time-out
// runs while the device holds it. Each is settled as the device settles
// it; one in flight when the link ends is abandoned.
func (id *identity) pumpC2D(ctx context.Context, l *amqpserver.OutgoingLink) {
	q, key := id.fe.hub.C2D(), devicebound.Key(id.key)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if err := l.WaitCredit(ctx); err != nil {
			return
		}
		m, err := q.Receive(ctx, key)
		if err != nil {
			return
		}
		tag, _ := hex.DecodeString(m.LockToken)
		d, err := l.Send(ctx, c2dMessage(m), &amqpserver.SendOptions{Tag: tag})
		if err != nil {
			_ = q.Abandon(key, m.LockToken)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := d.Outcome()
			id.settleC2D(m.LockToken, out, err)
		}()
	}
}

// settleC2D applies the device's outcome to a message: accepted completes
// it, rejected (and modified with undeliverable-here) rejects it,
// released and modified abandon it, as does a link that ended first.
func (id *identity) settleC2D(lockToken string, out amqpserver.Outcome, err error) {
	q, key := id.fe.hub.C2D(), devicebound.Key(id.key)
	if err != nil {
		_ = q.Abandon(key, lockToken)
		return
	}
	switch o := out.(type) {
	case amqpserver.Accepted:
		_ = q.Complete(key, lockToken)
	case *amqpserver.Rejected:
		_ = q.Reject(key, lockToken)
	case *amqpserver.Modified:
		if o.UndeliverableHere {
			_ = q.Reject(key, lockToken)
		} else {
			_ = q.Abandon(key, lockToken)
		}
	default:
		_ = q.Abandon(key, lockToken)
	}
	id.fe.hub.Touch(id.key)
}

// c2dMessage is a queued message as IoT Hub delivers it over AMQP: its
// properties (message-id, to, user-id, correlation-id, content type and
// encoding, expiry), the delivery count of earlier attempts in the header,
// the enqueued time in the iothub-enqueuedtime annotation, its
// application properties with iothub-ack, and the body as one data
// section.
func c2dMessage(m *devicebound.Message) *amqp.Message {
	to := m.To
	p := &amqp.MessageProperties{To: &to}
	if m.MessageID != "" {
		p.MessageID = m.MessageID
	}
	if m.CorrelationID != "" {
		p.CorrelationID = m.CorrelationID
	}
	if m.UserID != "" {
		p.UserID = []byte(m.UserID)
	}
	if m.ContentType != "" {
		ct := m.ContentType
		p.ContentType = &ct
	}
	if m.ContentEncoding != "" {
		ce := m.ContentEncoding
		p.ContentEncoding = &ce
	}
	if !m.ExpiryTime.IsZero() {
		exp := m.ExpiryTime
		p.AbsoluteExpiryTime = &exp
	}
	props := make(map[string]any, len(m.Properties)+1)
	for k, v := range m.Properties {
		props[k] = v
	}
	props["iothub-ack"] = string(m.Ack)
	return &amqp.Message{
		Header:                &amqp.MessageHeader{DeliveryCount: uint32(max(m.DeliveryCount-1, 0))},
		Properties:            p,
		Annotations:           amqp.Annotations{"iothub-enqueuedtime": m.EnqueuedTime},
		ApplicationProperties: props,
		Data:                  [][]byte{m.Body},
	}
}
