package deviceamqp

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
	"github.com/iotkit-go/iothub/internal/amqpvalue"
	"github.com/iotkit-go/iothub/internal/ids"
)

// The application properties of direct methods over AMQP.
const (
	propMethodName   = "IoThub-methodname"
	propMethodStatus = "IoThub-status"
)

// methodAnswer is a device's answer to a method request.
type methodAnswer struct {
	status  int
	payload json.RawMessage
}

// attachMethodRequests takes the device's receiver of method requests.
func (fe *frontEnd) attachMethodRequests(l *amqpserver.OutgoingLink) error {
	id, err := fe.admit(l.Link)
	if err != nil {
		return err
	}
	q := newOutQueue(l)
	id.mu.Lock()
	id.methodsOut[channelID(l.Link)] = q
	id.mu.Unlock()
	id.resubscribe()
	return nil
}

// attachMethodResponses takes the device's sender of method answers.
func (fe *frontEnd) attachMethodResponses(l *amqpserver.IncomingLink) (amqpserver.MessageHandler, error) {
	id, err := fe.admit(l.Link)
	if err != nil {
		return nil, err
	}
	id.mu.Lock()
	id.methodsIn[channelID(l.Link)] = l.Link
	id.mu.Unlock()
	id.resubscribe()
	return id.methodAnswer, nil
}

// methodAnswer hands a device's answer to the call waiting for it, matched
// by correlation-id; answers to calls that ended are dropped.
func (id *identity) methodAnswer(d *amqpserver.Delivery) amqpserver.Outcome {
	m := d.Message
	var corr any
	if m.Properties != nil {
		corr = m.Properties.CorrelationID
	}
	status, ok := statusOf(m.ApplicationProperties[propMethodStatus])
	if corr == nil || !ok {
		return &amqpserver.Rejected{Error: &amqpserver.Error{Condition: amqpserver.CondInvalidField,
			Description: "a method answer needs the request's correlation-id and an integer " + propMethodStatus + " application property"}}
	}
	payload := sessions.MethodPayload(devicebound.Body(m))
	id.mu.Lock()
	ch := id.calls[corrKey(corr)]
	id.mu.Unlock()
	if ch != nil {
		select {
		case ch <- methodAnswer{status: status, payload: payload}:
		default: // answered twice: the first answer stands
		}
	}
	id.fe.hub.Touch(id.key)
	return amqpserver.Accepted{}
}

// statusOf reads a status an SDK wrote as any integer type, or as text.
func statusOf(v any) (int, bool) {
	if n, ok := amqpvalue.Int64(v); ok {
		return int(n), true
	}
	if s, ok := v.(string); ok {
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	return 0, false
}

// InvokeMethod implements sessions.Endpoint: the request goes out on a
// method link, with a fresh uuid correlation-id, and the call waits for
// the answer with the same correlation-id, or ctx (the response time-out).
func (id *identity) InvokeMethod(ctx context.Context, name string, payload json.RawMessage) (int, json.RawMessage, error) {
	corr := amqp.UUID(ids.NewUUIDBytes())
	ch := make(chan methodAnswer, 1)
	key := corr.String()
	id.mu.Lock()
	var q *outQueue
	for chID, out := range id.methodsOut {
		if q == nil || id.methodsIn[chID] != nil {
			q = out
		}
	}
	if q != nil {
		id.calls[key] = ch
	}
	id.mu.Unlock()
	if q == nil {
		return 0, nil, errLinkGone
	}
	defer func() {
		id.mu.Lock()
		delete(id.calls, key)
		id.mu.Unlock()
	}()
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	q.push(&amqp.Message{
		Properties:            &amqp.MessageProperties{CorrelationID: corr},
		ApplicationProperties: map[string]any{propMethodName: name},
		Data:                  [][]byte{payload},
	})
	select {
	case a := <-ch:
		return a.status, a.payload, nil
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-q.link.Context().Done():
		return 0, nil, errLinkGone
	}
}
