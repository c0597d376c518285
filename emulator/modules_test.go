package emulator_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

var moduleKeys = []string{
	"moduleId", "managedBy", "deviceId", "generationId", "etag", "connectionState",
	"connectionStateUpdatedTime", "lastActivityTime", "cloudToDeviceMessageCount", "authentication",
}

func TestModuleLifecycle(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})

	r := h.do(http.MethodPut, "/devices/d1/modules/m1", `{"deviceId":"d1","moduleId":"m1"}`)
	require.Equal(t, http.StatusOK, r.Status, "a create answers 200, as the hub does: %s", r.Body)
	m := r.object(t)
	requireKeys(t, m, moduleKeys...)
	assert.Equal(t, "m1", m["moduleId"])
	assert.Equal(t, "d1", m["deviceId"])
	assert.Nil(t, m["managedBy"])
	assert.Equal(t, "Disconnected", m["connectionState"])
	assert.Equal(t, "0001-01-01T00:00:00Z", m["lastActivityTime"])
	assert.Equal(t, `"`+m["etag"].(string)+`"`, r.Header.Get("ETag"))
	assert.Equal(t, "sas", m["authentication"].(map[string]any)["type"])
	assert.NotEmpty(t, m["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"])

	g := h.do(http.MethodGet, "/devices/d1/modules/m1", "")
	require.Equal(t, http.StatusOK, g.Status)
	assert.Equal(t, m, g.object(t))

	requireHubError(t, h.do(http.MethodPut, "/devices/d1/modules/m1", `{"deviceId":"d1","moduleId":"m1"}`), iothub.CodeModuleAlreadyExistsOnDevice)
	requireHubError(t, h.do(http.MethodPut, "/devices/d1/modules/m1", `{"moduleId":"m1"}`, "If-Match", `"c3RhbGU="`), iothub.CodePreconditionFailed)

	u := h.do(http.MethodPut, "/devices/d1/modules/m1", `{"moduleId":"m1","managedBy":"IotEdge"}`, "If-Match", `"`+m["etag"].(string)+`"`)
	require.Equal(t, http.StatusOK, u.Status, "%s", u.Body)
	um := u.object(t)
	assert.Equal(t, "IotEdge", um["managedBy"])
	assert.NotEqual(t, m["etag"], um["etag"])
	assert.Equal(t, m["generationId"], um["generationId"])
	assert.Equal(t, m["authentication"], um["authentication"])

	h.do(http.MethodPut, "/devices/d1/modules/a0", `{"moduleId":"a0","authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"`+tp1+`"}}}`)
	l := h.do(http.MethodGet, "/devices/d1/modules", "")
	require.Equal(t, http.StatusOK, l.Status)
	list := l.array(t)
	require.Len(t, list, 2)
	assert.Equal(t, "a0", list[0]["moduleId"])
	assert.Equal(t, "selfSigned", list[0]["authentication"].(map[string]any)["type"])
	assert.Equal(t, "m1", list[1]["moduleId"])

	requireHubError(t, h.do(http.MethodDelete, "/devices/d1/modules/m1", "", "If-Match", `"c3RhbGU="`), iothub.CodePreconditionFailed)
	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/devices/d1/modules/m1", "", "If-Match", `"`+um["etag"].(string)+`"`).Status)
	requireHubError(t, h.do(http.MethodGet, "/devices/d1/modules/m1", ""), iothub.CodeModuleNotFound)
	requireHubError(t, h.do(http.MethodDelete, "/devices/d1/modules/m1", ""), iothub.CodeModuleNotFound)

	// Deleting the device deletes its modules.
	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/devices/d1", "").Status)
	requireHubError(t, h.do(http.MethodGet, "/devices/d1/modules/a0", ""), iothub.CodeDeviceNotFound)
}

func TestModuleRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		path    string
		body    string
		ifMatch string
		code    iothub.ErrorCode
	}{
		{name: "device missing", path: "/devices/nope/modules/m1", body: `{}`, code: iothub.CodeDeviceNotFound},
		{name: "If-Match on missing module", path: "/devices/d1/modules/m9", body: `{}`, ifMatch: "*", code: iothub.CodeModuleNotFound},
		{name: "moduleId differs from path", path: "/devices/d1/modules/m1", body: `{"moduleId":"m2"}`, code: iothub.CodeArgumentInvalid},
		{name: "deviceId differs from path", path: "/devices/d1/modules/m1", body: `{"deviceId":"d2","moduleId":"m1"}`, code: iothub.CodeArgumentInvalid},
		{name: "invalid module id", path: "/devices/d1/modules/" + url.PathEscape("a b"), body: `{}`, code: iothub.CodeArgumentInvalid},
		{name: "selfSigned without thumbprint", path: "/devices/d1/modules/m1", body: `{"authentication":{"type":"selfSigned"}}`, code: iothub.CodeArgumentInvalid},
		{name: "module id needing escapes", path: "/devices/d1/modules/" + url.PathEscape("m#1?"), body: `{"moduleId":"m#1?"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
			var hdr []string
			if tc.ifMatch != "" {
				hdr = []string{"If-Match", tc.ifMatch}
			}
			r := h.do(http.MethodPut, tc.path, tc.body, hdr...)
			if tc.code != 0 {
				requireHubError(t, r, tc.code)
				return
			}
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			g := h.do(http.MethodGet, tc.path, "")
			require.Equal(t, http.StatusOK, g.Status, "%s", g.Body)
		})
	}
}

func TestListModulesOfMissingDevice(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	requireHubError(t, h.do(http.MethodGet, "/devices/nope/modules", ""), iothub.CodeDeviceNotFound)
}
