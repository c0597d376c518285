package deviceamqp

import (
	"context"
	"strings"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// The resources of twin requests.
const (
	resourceReported = "/properties/reported"
	resourceDesired  = "/notifications/twin/properties/desired"
)

// attachTwinResponses takes the device's receiver of twin answers and
// desired-property updates.
func (fe *frontEnd) attachTwinResponses(l *amqpserver.OutgoingLink) error {
	id, err := fe.admit(l.Link)
	if err != nil {
		return err
	}
	q := newOutQueue(l)
	id.mu.Lock()
	id.twinOut[channelID(l.Link)] = q
	id.mu.Unlock()
	return nil
}

// attachTwinRequests takes the device's sender of twin requests, which
// are served in order, off the connection's read goroutine (a write waits
// for the state directory).
func (fe *frontEnd) attachTwinRequests(l *amqpserver.IncomingLink) (amqpserver.MessageHandler, error) {
	id, err := fe.admit(l.Link)
	if err != nil {
		return nil, err
	}
	w := &twinWorker{id: id, channel: channelID(l.Link), queue: newFIFO[*amqp.Message]()}
	if !l.Go(w.run) {
		return nil, &amqpserver.Error{Condition: amqpserver.CondConnectionForced, Description: "the emulator is shutting down"}
	}
	return w.take, nil
}

// twinWorker serves the twin requests of one link in order.
type twinWorker struct {
	id      *identity
	channel string
	queue   *fifo[*amqp.Message]
}

// take queues a request; a device that sends faster than the hub answers
// past maxQueued requests has its link detached.
func (w *twinWorker) take(d *amqpserver.Delivery) amqpserver.Outcome {
	if w.queue.push(d.Message) > maxQueued {
		_ = d.Link().Detach(&amqpserver.Error{Condition: amqpserver.CondResourceLimitExceeded, Description: "more twin requests wait for an answer than the hub holds"})
	}
	return amqpserver.Accepted{}
}

func (w *twinWorker) run(ctx context.Context) {
	for {
		m, ok := w.queue.pop(ctx)
		if !ok {
			return
		}
		w.id.answerTwin(w.channel, m, w.id.serveTwin(m))
	}
}

// twinAnswer is what a twin request is answered with.
type twinAnswer struct {
	status  int
	version int64 // after a reported-properties PATCH; 0 otherwise
	body    []byte
}

// serveTwin runs one twin request: GET the twin, PATCH the reported
// properties, PUT or DELETE the subscription to desired-property updates.
func (id *identity) serveTwin(m *amqp.Message) twinAnswer {
	op, _ := m.Annotations["operation"].(string)
	resource, _ := m.Annotations["resource"].(string)
	resource = strings.TrimSuffix(resource, "/")
	hub := id.fe.hub
	switch strings.ToUpper(op) {
	case "GET":
		if resource == "" {
			doc, err := hub.DeviceTwin(id.key)
			if err != nil {
				return failure(err)
			}
			hub.Touch(id.key)
			return twinAnswer{status: 200, body: doc}
		}
	case "PATCH":
		if strings.EqualFold(resource, resourceReported) {
			v, err := hub.UpdateReportedJSON(id.key, devicebound.Body(m))
			if err != nil {
				return failure(err)
			}
			return twinAnswer{status: 204, version: v}
		}
	case "PUT", "DELETE":
		if strings.EqualFold(resource, resourceDesired) {
			id.mu.Lock()
			id.desired = strings.EqualFold(op, "PUT")
			id.mu.Unlock()
			id.resubscribe()
			hub.Touch(id.key)
			return twinAnswer{status: 204}
		}
	}
	return failure(iothub.NewError(iothub.CodeArgumentInvalid,
		"a twin request is operation GET, PATCH "+resourceReported+", or PUT or DELETE "+resourceDesired+"; this one is "+strings.TrimSpace(op+" "+resource)))
}

// failure answers a twin request the hub refused with err.
func failure(err error) twinAnswer {
	return twinAnswer{status: sessions.ErrorStatus(err), body: sessions.ErrorBody(err)}
}

// answerTwin sends an answer on the twin receiver paired with the link the
// request came on (or any twin receiver of the identity), with the
// request's correlation-id and the status (and version) annotations. A
// device with no receiver gets no answer, as on IoT Hub.
func (id *identity) answerTwin(channel string, req *amqp.Message, a twinAnswer) {
	id.mu.Lock()
	q := id.twinOut[channel]
	if q == nil {
		for _, any := range id.twinOut {
			q = any
			break
		}
	}
	id.mu.Unlock()
	if q == nil {
		return
	}
	resp := &amqp.Message{Annotations: amqp.Annotations{"status": int32(a.status)}, Data: [][]byte{a.body}}
	if a.body == nil {
		resp.Data = [][]byte{{}}
	}
	if a.version != 0 {
		resp.Annotations["version"] = a.version
	}
	if req.Properties != nil && req.Properties.CorrelationID != nil {
		resp.Properties = &amqp.MessageProperties{CorrelationID: req.Properties.CorrelationID}
	}
	q.push(resp)
}
