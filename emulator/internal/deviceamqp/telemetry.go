package deviceamqp

import (
	"context"
	"errors"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// maxTelemetrySize is the largest device-to-cloud message IoT Hub takes:
// 256 KB. A larger one detaches the link with
// amqp:link:message-size-exceeded.
const maxTelemetrySize = 256 * 1024

// creationTimeProperty is the system property a device stamps its message
// with, which the built-in endpoint shows among the application
// properties.
const creationTimeProperty = "iothub-creation-time-utc"

// attachEvents takes the device's telemetry sender.
func (fe *frontEnd) attachEvents(l *amqpserver.IncomingLink) (amqpserver.MessageHandler, error) {
	id, err := fe.admit(l.Link)
	if err != nil {
		return nil, err
	}
	l.SetMaxMessageSize(maxTelemetrySize)
	return id.telemetry, nil
}

// telemetry appends one message to the built-in endpoint. With a state
// directory the append waits for the disk, which the connection's read
// goroutine must not: the delivery is settled once the event is kept.
func (id *identity) telemetry(d *amqpserver.Delivery) amqpserver.Outcome {
	ev := eventOf(id.key, d.Message)
	ctx := d.Link().Context()
	if !id.fe.hub.Persistent() {
		return id.appended(id.fe.hub.AppendTelemetry(ctx, ev))
	}
	go func() { _ = d.Settle(id.appended(id.fe.hub.AppendTelemetry(ctx, ev))) }()
	return nil
}

// appended is the outcome of a telemetry message the hub appended with
// err.
func (id *identity) appended(err error) amqpserver.Outcome {
	if err == nil {
		id.fe.hub.Touch(id.key)
		return amqpserver.Accepted{}
	}
	cond := amqpserver.CondInternalError
	switch {
	case errors.Is(err, iothub.ErrDeviceNotFound):
		cond = amqpserver.CondNotFound
	case errors.Is(err, context.Canceled):
		cond = amqpserver.CondLinkDetachForced
	}
	return &amqpserver.Rejected{Error: &amqpserver.Error{Condition: cond, Description: err.Error()}}
}

// eventOf is the event a device's AMQP message becomes: its body, its
// message-id, correlation-id, content type and encoding, and its
// application properties, with the creation time a device may put in the
// message annotations instead.
func eventOf(key sessions.Key, m *amqp.Message) eventhubs.Event {
	ev := eventhubs.Event{DeviceID: key.DeviceID, ModuleID: key.ModuleID, Body: devicebound.Body(m)}
	if p := m.Properties; p != nil {
		ev.MessageID = devicebound.IDString(p.MessageID)
		ev.CorrelationID = devicebound.IDString(p.CorrelationID)
		if p.ContentType != nil {
			ev.ContentType = *p.ContentType
		}
		if p.ContentEncoding != nil {
			ev.ContentEncoding = *p.ContentEncoding
		}
	}
	created, hasCreated := m.Annotations[creationTimeProperty]
	if len(m.ApplicationProperties) > 0 || hasCreated {
		ev.Properties = make(map[string]any, len(m.ApplicationProperties)+1)
		for k, v := range m.ApplicationProperties {
			ev.Properties[k] = v
		}
		if _, set := ev.Properties[creationTimeProperty]; hasCreated && !set {
			ev.Properties[creationTimeProperty] = created
		}
	}
	return ev
}
