package core

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

func TestParseIdentityResource(t *testing.T) {
	t.Parallel()
	ok := map[string]sessions.Key{
		"hub.azure-devices.net/devices/Dev1":              {DeviceID: "Dev1"},
		"localhost%2Fdevices%2Fd%231":                     {DeviceID: "d#1"},
		"https://127.0.0.1:443/devices/d1/modules/m1":     {DeviceID: "d1", ModuleID: "m1"},
		"localhost/Devices/d1/":                           {DeviceID: "d1"},
		"localhost/devices/d%2F1":                         {}, // an escaped / splits the path once unescaped
		"localhost/devices/d1/modules":                    {},
		"localhost":                                       {},
		"localhost/messages/devicebound":                  {},
		"localhost/devices/d1/modules/m1/messages/events": {},
	}
	for in, want := range ok {
		got, parsed := ParseIdentityResource(in)
		assert.Equal(t, want != sessions.Key{}, parsed, in)
		assert.Equal(t, want, got, in)
	}
	assert.Equal(t, "devices/dev1/modules/m1", IdentityPath(sessions.Key{DeviceID: "Dev1", ModuleID: "M1"}))
	assert.Equal(t, "module 'd/m'", IdentityName(sessions.Key{DeviceID: "d", ModuleID: "m"}))
	assert.Equal(t, "device 'd'", IdentityName(sessions.Key{DeviceID: "d"}))
}

func FuzzParseIdentityResource(f *testing.F) {
	for _, s := range []string{"hub/devices/d1", "amqps://h/devices/d/modules/m", "%zz", "h//devices//", "h/devices/%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, ok := ParseIdentityResource(s)
		if !ok {
			if k != (sessions.Key{}) {
				t.Fatalf("%q: not parsed but %+v", s, k)
			}
			return
		}
		if k.DeviceID == "" || strings.Contains(k.DeviceID, "/") || strings.Contains(k.ModuleID, "/") {
			t.Fatalf("%q: parsed to %+v", s, k)
		}
	})
}
