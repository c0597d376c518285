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
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/devicemqtt"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/listener"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// mqttHub is the hub core as the MQTT front end sees it.
type mqttHub struct{ e *Emulator }

var _ devicemqtt.Hub = mqttHub{}

// startMQTT builds the MQTT front end and routes the port's MQTT
// connections (sniffed, or on 8883) to it.
func (e *Emulator) startMQTT() {
	e.mqtt = devicemqtt.NewServer(mqttHub{e}, &devicemqtt.Options{Logger: e.logger, Now: e.now})
	e.ports.Handle(listener.MQTT, func(c net.Conn) {
		_ = e.mqtt.ServeConn(e.baseCtx, c, listener.PeerCertificates(c))
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
	e := h.e
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
	if !e.namesThisHub(host) {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "the user name names host %q, not this hub", host)
	}
	want := key.DeviceID
	if key.ModuleID != "" {
		want += "/" + key.ModuleID
	}
	if path != want {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnIdentifierRejected, "the user name names %q, the client id %q", path, info.ClientID)
	}
	expires, err := h.checkPassword(key, string(info.Password))
	if err != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "%v", err)
	}
	if err := e.checkCanConnect(key); err != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "%v", err)
	}
	id := devicemqtt.Identity{Key: key, ModelID: query.Get("model-id")}
	id.Expires = expires
	if id.ModelID != "" {
		_ = e.store.SetModelID(key.DeviceID, key.ModuleID, id.ModelID)
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

// checkPassword verifies the SAS token a device presents and returns its
// expiry.
func (h mqttHub) checkPassword(key sessions.Key, password string) (time.Time, error) {
	e := h.e
	if password == "" {
		return time.Time{}, errors.New("no password: X.509 client certificates are not supported by this emulator; use a SAS token")
	}
	sas, err := auth.ParseSAS(password)
	if err != nil {
		return time.Time{}, fmt.Errorf("the password is not a SAS token: %v", err)
	}
	path, ok := e.resourcePath(sas.Resource)
	wantPath := strings.ToLower("devices/" + key.DeviceID)
	if key.ModuleID != "" {
		wantPath += strings.ToLower("/modules/" + key.ModuleID)
	}
	if !ok || path != "" && path != wantPath && !strings.HasPrefix(wantPath, path+"/") {
		return time.Time{}, errors.New("the token's resource (sr) does not name this device on this hub")
	}
	var keys [2]string
	if sas.KeyName == "" {
		a, err := h.identityAuth(key)
		if err != nil {
			return time.Time{}, err
		}
		if a.Type != registry.AuthSAS {
			return time.Time{}, fmt.Errorf("the identity authenticates with %s, not a SAS key", a.Type)
		}
		keys = [2]string{a.PrimaryKey, a.SecondaryKey}
	} else {
		p, ok := e.policy(sas.KeyName)
		if !ok || p.Rights&DeviceConnect == 0 {
			return time.Time{}, fmt.Errorf("policy %q does not exist or lacks DeviceConnect", sas.KeyName)
		}
		keys = [2]string{p.PrimaryKey, p.SecondaryKey}
	}
	if !sas.VerifySignature(keys[0]) && !sas.VerifySignature(keys[1]) {
		return time.Time{}, errors.New("the signature does not match the identity's keys")
	}
	if sas.Expired(e.now()) {
		return time.Time{}, errors.New("the SAS token has expired")
	}
	return sas.Expiry, nil
}

func (h mqttHub) identityAuth(key sessions.Key) (registry.Auth, error) {
	if key.ModuleID != "" {
		m, err := h.e.store.GetModule(key.DeviceID, key.ModuleID)
		return m.Auth, err
	}
	d, err := h.e.store.GetDevice(key.DeviceID)
	return d.Auth, err
}

func (h mqttHub) Sessions() *sessions.Manager { return h.e.sessions }

func (h mqttHub) Telemetry(ctx context.Context, key sessions.Key, m *devicemqtt.Message) error {
	dev, err := h.e.store.GetDevice(key.DeviceID)
	if err != nil {
		return err
	}
	ev := eventhubs.Event{
		DeviceID: key.DeviceID, ModuleID: key.ModuleID, Body: m.Body, AuthGenerationID: dev.GenerationID,
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
	_, _, err = h.e.amqp.events.Append(ctx, ev)
	return err
}

func (h mqttHub) ReceiveC2D(ctx context.Context, key sessions.Key) (*devicebound.Message, error) {
	return h.e.amqp.c2d.Receive(ctx, devicebound.Key(key))
}

func (h mqttHub) SettleC2D(key sessions.Key, lockToken string, how devicemqtt.Outcome) error {
	if how == devicemqtt.Complete {
		return h.e.amqp.c2d.Complete(devicebound.Key(key), lockToken)
	}
	return h.e.amqp.c2d.Abandon(devicebound.Key(key), lockToken)
}

func (h mqttHub) DeviceTwin(key sessions.Key) ([]byte, error) {
	doc, err := h.e.store.GetTwin(key.DeviceID, key.ModuleID)
	if err != nil {
		return nil, err
	}
	return deviceTwinJSON(doc)
}

// deviceTwinJSON is a twin as a device sees it: desired and reported, each
// with "$version" and without "$metadata".
func deviceTwinJSON(doc map[string]any) ([]byte, error) {
	props, _ := doc["properties"].(map[string]any)
	view := map[string]any{"desired": props["desired"], "reported": props["reported"]}
	for _, sec := range view {
		if m, ok := sec.(map[string]any); ok {
			delete(m, "$metadata")
		}
	}
	return json.Marshal(view)
}

func (h mqttHub) UpdateReported(key sessions.Key, patch []byte) (int64, error) {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || body == nil {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "The reported properties are not a JSON object")
	}
	v, err := h.e.store.UpdateReported(key.DeviceID, key.ModuleID, body)
	if err == nil {
		_ = h.e.store.Touch(key.DeviceID, key.ModuleID)
	}
	return v, err
}

func (h mqttHub) Touch(key sessions.Key) { _ = h.e.store.Touch(key.DeviceID, key.ModuleID) }
