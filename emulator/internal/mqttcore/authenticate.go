package mqttcore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/devicemqtt"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// refuse is a refused CONNECT: the CONNACK code and why.
func refuse(code byte, format string, args ...any) error {
	return &devicemqtt.RefusedError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Authenticate implements devicemqtt.Hub: it checks a device's CONNECT as
// IoT Hub does: the client id names the identity (deviceId or
// deviceId/moduleId), the user name {host}/{deviceId}[/{moduleId}]/?api-version=…
// names the same identity on this hub, and the password is a SAS token for
// {host}/devices/{id}[/modules/{mid}] signed with one of the identity's keys
// (or by a policy with DeviceConnect), unexpired — or, with no password,
// the TLS client certificate has one of a selfSigned identity's
// thumbprints; the identity must exist and its device be enabled. A model-id in the user name becomes the
// twin's modelId.
func (h *Hub) Authenticate(_ context.Context, info devicemqtt.ConnectInfo) (devicemqtt.Identity, error) {
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
	if !h.hub.NamesThisHub(host) {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "the user name names host %q, not this hub", host)
	}
	want := key.DeviceID
	if key.ModuleID != "" {
		want += "/" + key.ModuleID
	}
	if path != want {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnIdentifierRejected, "the user name names %q, the client id %q", path, info.ClientID)
	}
	var expires time.Time
	if len(info.Password) == 0 && len(info.PeerCertificates) > 0 {
		// An X.509 device sends no password; its certificate names it.
		err = h.hub.CheckDeviceCertificate(key, info.PeerCertificates)
	} else {
		expires, err = h.hub.CheckDeviceToken(key, string(info.Password))
	}
	if err != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "%v", err)
	}
	if err := h.hub.CheckCanConnect(key); err != nil {
		return devicemqtt.Identity{}, refuse(devicemqtt.ConnNotAuthorized, "%v", err)
	}
	id := devicemqtt.Identity{Key: key, ModelID: query.Get("model-id")}
	id.Expires = expires
	if id.ModelID != "" {
		_ = h.hub.Registry().SetModelID(key.DeviceID, key.ModuleID, id.ModelID)
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
