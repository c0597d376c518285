package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/devicemqtt"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/listener"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// mqttHub is the hub core as the MQTT front end sees it.
type mqttHub struct{ hub *core.Hub }

var _ devicemqtt.Hub = mqttHub{}

// startMQTT builds the MQTT front end and routes the port's MQTT
// connections (sniffed, or on 8883) to it.
func (e *Emulator) startMQTT() {
	e.mqtt = devicemqtt.NewServer(mqttHub{e.hub}, &devicemqtt.Options{Logger: e.logger, Now: e.hub.Now})
	e.ports.Handle(listener.MQTT, func(c net.Conn) {
		_ = e.mqtt.ServeConn(e.hub.BaseContext(), c, listener.PeerCertificates(c))
	})
}

func refuse(code byte, format string, args ...any) error {
	return &devicemqtt.RefusedError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Authenticate checks a device's CONNECT as IoT Hub does: the client id
// names the identity (deviceId or deviceId/moduleId), the user name
// {host}/{deviceId}[/{moduleId}]/?api-version=… names the same identity on
// this hub, and the password is a SAS token for {host}/devices/{id}[/modules/{mid}]
// signed with one of the identity's keys (or by a policy with
// DeviceConnect), unexpired; the identity must exist and its device be
// enabled.
func (h mqttHub) Authenticate(_ context.Context, info devicemqtt.ConnectInfo) (devicemqtt.Identity, error) {
	hub := h.hub
	key := sessions.Key{DeviceID: info.ClientID}
	if d, m, ok := strings.Cut(info.ClientID, "/"); ok {
		key = sessions.Key{DeviceID: d, ModuleID: m}
	}
	if info.ClientID == "" || registry.ValidateDeviceID(key.DeviceID) != nil || key.ModuleID != "" && registry.ValidateModuleID(key.ModuleID) != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnIdentifierRejected, "client id %q is not a device id or deviceId/moduleId", info.ClientID)
	}
	host, path, query, err := splitUsername(info.Username)
	if err != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnBadUsernameOrPassword, "%v", err)
	}
	if !hub.NamesThisHub(host) {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "the user name names host %q, not this hub", host)
	}
	want := key.DeviceID
	if key.ModuleID != "" {
		want += "/" + key.ModuleID
	}
	if path != want {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnIdentifierRejected, "the user name names %q, the client id %q", path, info.ClientID)
	}
	expires, err := hub.CheckDeviceToken(key, string(info.Password))
	if err != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "%v", err)
	}
	if err := hub.CheckCanConnect(key); err != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "%v", err)
	}
	id := devicemqtt.Identity{Key: key, ModelID: query.Get("model-id")}
	id.Expires = expires
	if id.ModelID != "" {
		_ = hub.Registry().SetModelID(key.DeviceID, key.ModuleID, id.ModelID)
	}
	return id, nil
}

// splitUsername reads {host}/{deviceId}[/{moduleId}]/?{query}.
func splitUsername(u string) (host, identity string, query url.Values, err error) {
	before, q, _ := strings.Cut(u, "?")
	parts := strings.Split(strings.TrimSuffix(before, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", "", nil, errors.New("the user name is not {host}/{deviceId}[/{moduleId}]/?api-version=…")
	}
	// Parsed by hand: url.ParseQuery refuses ';', which model ids hold
	// ("dtmi:com:example:Thermostat;1") when a client leaves it unescaped.
	query = url.Values{}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		query.Add(k, v)
	}
	return parts[0], strings.Join(parts[1:], "/"), query, nil
}

func (h mqttHub) Sessions() *sessions.Manager { return h.hub.Sessions() }

func (h mqttHub) Telemetry(ctx context.Context, key sessions.Key, m *devicemqtt.Message) error {
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

func (h mqttHub) ReceiveC2D(ctx context.Context, key sessions.Key) (*devicebound.Message, error) {
	return h.hub.C2D().Receive(ctx, devicebound.Key(key))
}

func (h mqttHub) SettleC2D(key sessions.Key, lockToken string, how devicemqtt.Outcome) error {
	if how == devicemqtt.Complete {
		return h.hub.C2D().Complete(devicebound.Key(key), lockToken)
	}
	return h.hub.C2D().Abandon(devicebound.Key(key), lockToken)
}

func (h mqttHub) DeviceTwin(key sessions.Key) ([]byte, error) {
	return h.hub.DeviceTwin(key)
}

func (h mqttHub) UpdateReported(key sessions.Key, patch []byte) (int64, error) {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || body == nil {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "The reported properties are not a JSON object")
	}
	return h.hub.UpdateReported(key, body)
}

func (h mqttHub) Touch(key sessions.Key) { h.hub.Touch(key) }
