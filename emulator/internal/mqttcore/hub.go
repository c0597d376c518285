package mqttcore

import (
	"context"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/devicemqtt"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Hub is the hub core as the MQTT device front end sees it: it implements
// devicemqtt.Hub over a core.Hub.
type Hub struct{ hub *core.Hub }

var _ devicemqtt.Hub = (*Hub)(nil)

// New returns the MQTT front end's view of hub.
func New(hub *core.Hub) *Hub { return &Hub{hub: hub} }

// Sessions implements devicemqtt.Hub: the core's session layer, which
// simulated devices share.
func (h *Hub) Sessions() *sessions.Manager { return h.hub.Sessions() }

// Telemetry implements devicemqtt.Hub: it appends the device's message,
// with its properties and system properties, to the built-in endpoint.
func (h *Hub) Telemetry(ctx context.Context, key sessions.Key, m *devicemqtt.Message) error {
	ev := eventhubs.Event{
		DeviceID: key.DeviceID, ModuleID: key.ModuleID, Body: m.Body,
		MessageID: m.MessageID, CorrelationID: m.CorrelationID, ContentType: m.ContentType, ContentEncoding: m.ContentEncoding,
	}
	if len(m.Properties) > 0 || m.CreationUTC != "" {
		ev.Properties = make(map[string]any, len(m.Properties)+1)
		for k, v := range m.Properties {
			ev.Properties[k] = v
		}
		if m.CreationUTC != "" {
			ev.Properties["iothub-creation-time-utc"] = m.CreationUTC
		}
	}
	return h.hub.AppendTelemetry(ctx, ev)
}

// ReceiveC2D implements devicemqtt.Hub.
func (h *Hub) ReceiveC2D(ctx context.Context, key sessions.Key) (*devicebound.Message, error) {
	return h.hub.C2D().Receive(ctx, devicebound.Key(key))
}

// SettleC2D implements devicemqtt.Hub: PUBACK completes a message, a lost
// connection abandons it.
func (h *Hub) SettleC2D(key sessions.Key, lockToken string, how devicemqtt.Outcome) error {
	if how == devicemqtt.Complete {
		return h.hub.C2D().Complete(devicebound.Key(key), lockToken)
	}
	return h.hub.C2D().Abandon(devicebound.Key(key), lockToken)
}

// DeviceTwin implements devicemqtt.Hub.
func (h *Hub) DeviceTwin(key sessions.Key) ([]byte, error) {
	return h.hub.DeviceTwin(key)
}

// UpdateReported implements devicemqtt.Hub.
func (h *Hub) UpdateReported(key sessions.Key, patch []byte) (int64, error) {
	return h.hub.UpdateReportedJSON(key, patch)
}

// Touch implements devicemqtt.Hub.
func (h *Hub) Touch(key sessions.Key) { h.hub.Touch(key) }
