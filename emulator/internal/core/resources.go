package core

import (
	"net/url"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// ParseIdentityResource reads the identity a device token's resource (sr)
// names: {host}/devices/{id} or {host}/devices/{id}/modules/{mid}, with or
// without a scheme, ids URL-escaped and kept in their case (device ids are
// case-sensitive). It does not check the host; CheckDeviceToken does.
func ParseIdentityResource(resource string) (sessions.Key, bool) {
	res := strings.TrimSpace(resource)
	if u, err := url.PathUnescape(res); err == nil {
		res = u
	}
	if i := strings.Index(res, "://"); i >= 0 {
		res = res[i+3:]
	}
	_, path, ok := strings.Cut(res, "/")
	if !ok {
		return sessions.Key{}, false
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(segs) == 2 && strings.EqualFold(segs[0], "devices") && segs[1] != "":
		return sessions.Key{DeviceID: segs[1]}, true
	case len(segs) == 4 && strings.EqualFold(segs[0], "devices") && strings.EqualFold(segs[2], "modules") && segs[1] != "" && segs[3] != "":
		return sessions.Key{DeviceID: segs[1], ModuleID: segs[3]}, true
	}
	return sessions.Key{}, false
}

// IdentityPath is the part of the hub an identity's grant covers, as the
// claims-based security compares paths: "devices/{id}" or
// "devices/{id}/modules/{mid}", lower-case.
func IdentityPath(key sessions.Key) string {
	p := "devices/" + key.DeviceID
	if key.ModuleID != "" {
		p += "/modules/" + key.ModuleID
	}
	return strings.ToLower(p)
}

// IdentityName names an identity in messages: "device 'x'" or
// "module 'x/m'".
func IdentityName(key sessions.Key) string {
	if key.ModuleID != "" {
		return "module '" + key.DeviceID + "/" + key.ModuleID + "'"
	}
	return "device '" + key.DeviceID + "'"
}
