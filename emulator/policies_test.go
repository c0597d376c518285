package emulator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
)

func TestPolicyRights(t *testing.T) {
	t.Parallel()
	type op struct{ method, path, body string }
	var (
		getDevice    = op{http.MethodGet, "/devices/d1", ""}
		listDevices  = op{http.MethodGet, "/devices", ""}
		putDevice    = op{http.MethodPut, "/devices/new", `{"deviceId":"new"}`}
		deleteDevice = op{http.MethodDelete, "/devices/d1", ""}
		bulk         = op{http.MethodPost, "/devices", `[{"id":"b1","importMode":"create"}]`}
		getModule    = op{http.MethodGet, "/devices/d1/modules/m1", ""}
		putModule    = op{http.MethodPut, "/devices/d1/modules/m2", `{"moduleId":"m2","deviceId":"d1"}`}
		getTwin      = op{http.MethodGet, "/twins/d1", ""}
		patchTwin    = op{http.MethodPatch, "/twins/d1", `{"tags":{"a":1}}`}
		putTwin      = op{http.MethodPut, "/twins/d1/modules/m1", `{"tags":{"a":1}}`}
		regStats     = op{http.MethodGet, "/statistics/devices", ""}
		svcStats     = op{http.MethodGet, "/statistics/service", ""}
	)
	tests := []struct {
		policy  string
		allowed []op
		denied  []op
	}{
		{"iothubowner", []op{getDevice, listDevices, putDevice, deleteDevice, bulk, getModule, putModule, getTwin, patchTwin, putTwin, regStats, svcStats}, nil},
		{"registryRead", []op{getDevice, listDevices, getModule, getTwin, regStats, svcStats}, []op{putDevice, deleteDevice, bulk, putModule, patchTwin, putTwin}},
		{"registryReadWrite", []op{getDevice, listDevices, putDevice, deleteDevice, bulk, getModule, putModule, getTwin, patchTwin, putTwin, regStats, svcStats}, nil},
		{"service", []op{getTwin, patchTwin, putTwin, svcStats}, []op{getDevice, listDevices, putDevice, deleteDevice, bulk, getModule, putModule, regStats}},
		{"device", nil, []op{getDevice, listDevices, putDevice, deleteDevice, bulk, getModule, putModule, getTwin, patchTwin, putTwin, regStats, svcStats}},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			for _, o := range tc.allowed {
				h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
				r := h.doAs(tc.policy, o.method, o.path, o.body)
				assert.Less(t, r.Status, 300, "%s %s: %s", o.method, o.path, r.Body)
			}
			h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
			for _, o := range tc.denied {
				requireHubError(t, h.doAs(tc.policy, o.method, o.path, o.body), iothub.CodeIotHubUnauthorizedAccess)
			}
			// Nothing denied may have changed anything.
			assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/devices/d1", "").Status)
			requireHubError(t, h.do(http.MethodGet, "/devices/new", ""), iothub.CodeDeviceNotFound)
		})
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{HubName: "myhub", Devices: []emulator.DeviceSeed{{DeviceID: "d1"}, {DeviceID: "d2"}}})
	owner := h.e.Policies()[0]
	require.Equal(t, "iothubowner", owner.Name)
	hour := time.Now().Add(time.Hour)
	sign := func(resource, name, key string, expiry time.Time) string {
		tok, err := auth.SignSAS(resource, name, key, expiry)
		require.NoError(t, err)
		return tok
	}
	tests := []struct {
		name   string
		header string
		path   string
		ok     bool
	}{
		{name: "primary key", header: sign(h.e.HostName(), owner.Name, owner.PrimaryKey, hour), ok: true},
		{name: "secondary key", header: sign(h.e.HostName(), owner.Name, owner.SecondaryKey, hour), ok: true},
		{name: "resource in upper case", header: sign(strings.ToUpper(h.e.HostName()), owner.Name, owner.PrimaryKey, hour), ok: true},
		{name: "hub host name", header: sign("myhub.azure-devices.net", owner.Name, owner.PrimaryKey, hour), ok: true},
		{name: "resource with the request's path", header: sign(h.e.HostName()+"/devices/d1", owner.Name, owner.PrimaryKey, hour), ok: true},
		{name: "resource with another path", header: sign(h.e.HostName()+"/devices/d2", owner.Name, owner.PrimaryKey, hour)},
		{name: "other hub", header: sign("otherhub.azure-devices.net", owner.Name, owner.PrimaryKey, hour)},
		{name: "other host", header: sign("127.0.0.2:1", owner.Name, owner.PrimaryKey, hour)},
		{name: "expired", header: sign(h.e.HostName(), owner.Name, owner.PrimaryKey, time.Now().Add(-time.Second))},
		{name: "forged", header: sign(h.e.HostName(), owner.Name, key1, hour)},
		{name: "key of another policy", header: sign(h.e.HostName(), owner.Name, h.e.Policies()[1].PrimaryKey, hour)},
		{name: "unknown policy", header: sign(h.e.HostName(), "nobody", owner.PrimaryKey, hour)},
		{name: "no policy name", header: sign(h.e.HostName(), "", owner.PrimaryKey, hour)},
		{name: "missing header", header: ""},
		{name: "malformed", header: "SharedAccessSignature sr=x&sig=notbase64!!"},
		{name: "other scheme", header: "Basic dXNlcjpwYXNz"},
		{name: "bearer token", header: "Bearer eyJhbGciOiJub25lIn0.e30."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hdr []string
			if tc.header != "" {
				hdr = []string{"Authorization", tc.header}
			}
			r := h.raw(http.MethodGet, "/devices/d1?"+apiVersion, "", hdr...)
			if tc.ok {
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
				return
			}
			requireHubError(t, r, iothub.CodeIotHubUnauthorizedAccess)
			assert.NotContains(t, string(r.Body), owner.PrimaryKey)
		})
	}
}

func TestAPIVersion(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	tok := h.token("iothubowner")
	requireHubError(t, h.raw(http.MethodGet, "/devices/d1", "", "Authorization", tok), iothub.CodeInvalidProtocolVersion)
	requireHubError(t, h.raw(http.MethodGet, "/devices/d1?api-version=1999-01-01", "", "Authorization", tok), iothub.CodeInvalidProtocolVersion)
	assert.Equal(t, http.StatusOK, h.raw(http.MethodGet, "/devices/d1?api-version=2020-09-30", "", "Authorization", tok).Status)
	assert.Equal(t, http.StatusOK, h.raw(http.MethodGet, "/devices/d1?api-version="+iothub.DefaultAPIVersion, "", "Authorization", tok).Status)
}

func TestCustomPoliciesAndConnectionStrings(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Policies: []emulator.Policy{
		{Name: "iothubowner", PrimaryKey: key1, SecondaryKey: key2, Rights: emulator.AllRights},
		{Name: "reader", Rights: emulator.RegistryRead},
	}})
	assert.Equal(t, "HostName="+h.e.HostName()+";SharedAccessKeyName=iothubowner;SharedAccessKey="+key1+";UseDevelopmentEmulator=true", h.e.ConnectionString())
	cs, err := h.e.PolicyConnectionString("reader")
	require.NoError(t, err)
	reader := h.e.Policies()[1]
	assert.NotEmpty(t, reader.PrimaryKey)
	assert.NotEqual(t, reader.PrimaryKey, reader.SecondaryKey)
	assert.Equal(t, "HostName="+h.e.HostName()+";SharedAccessKeyName=reader;SharedAccessKey="+reader.PrimaryKey+";UseDevelopmentEmulator=true", cs)
	_, err = h.e.PolicyConnectionString("nobody")
	assert.Error(t, err)
	assert.Equal(t, "reader (RegistryRead)", reader.String())
	assert.NotContains(t, reader.String(), reader.PrimaryKey)

	_, err = emulator.Start(context.Background(), &emulator.Options{Policies: []emulator.Policy{{Name: "a"}, {Name: "A"}}})
	assert.Error(t, err, "duplicate policy names")
}

func TestDefaultPolicies(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	got := map[string]emulator.Rights{}
	for _, p := range h.e.Policies() {
		got[p.Name] = p.Rights
	}
	assert.Equal(t, map[string]emulator.Rights{
		"iothubowner":       emulator.AllRights,
		"service":           emulator.ServiceConnect,
		"device":            emulator.DeviceConnect,
		"registryRead":      emulator.RegistryRead,
		"registryReadWrite": emulator.RegistryRead | emulator.RegistryWrite,
	}, got)
}
