package emulator_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

func TestBulkAllSucceed(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "old"}, {DeviceID: "gone"}}})
	old := h.do(http.MethodGet, "/devices/old", "").object(t)
	r := h.do(http.MethodPost, "/devices", `[
		{"id":"n1","importMode":"create","tags":{"site":"a"},"properties":{"desired":{"rate":5}}},
		{"id":"n2","importMode":"create","status":"disabled","authentication":{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"`+tp1+`"}}},
		{"id":"old","importMode":"updateIfMatchETag","eTag":"`+old["etag"].(string)+`","status":"disabled"},
		{"id":"gone","importMode":"delete"},
		{"id":"n1","moduleId":"m1","importMode":"create"}
	]`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	res := r.object(t)
	requireKeys(t, res, "isSuccessful", "errors", "warnings")
	assert.Equal(t, true, res["isSuccessful"])
	assert.Equal(t, []any{}, res["errors"])
	assert.Equal(t, []any{}, res["warnings"])

	tw := h.do(http.MethodGet, "/twins/n1", "").object(t)
	assert.Equal(t, map[string]any{"site": "a"}, tw["tags"])
	assert.Equal(t, 5.0, tw["properties"].(map[string]any)["desired"].(map[string]any)["rate"])
	n2 := h.do(http.MethodGet, "/devices/n2", "").object(t)
	assert.Equal(t, "disabled", n2["status"])
	assert.Equal(t, "selfSigned", n2["authentication"].(map[string]any)["type"])
	assert.Equal(t, "disabled", h.do(http.MethodGet, "/devices/old", "").object(t)["status"])
	requireHubError(t, h.do(http.MethodGet, "/devices/gone", ""), iothub.CodeDeviceNotFound)
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/devices/n1/modules/m1", "").Status)
}

func TestBulkPartialFailure(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "exists", Modules: []string{"m1", "m2"}}}})
	r := h.do(http.MethodPost, "/devices", `[
		{"id":"ok1","importMode":"create"},
		{"id":"exists","importMode":"create"},
		{"id":"missing","importMode":"update"},
		{"id":"exists","importMode":"updateIfMatchETag","eTag":"c3RhbGU=","moduleId":"m2"},
		{"id":"bad id!","importMode":"create"},
		{"id":"missing2","importMode":"deleteIfMatchETag","eTag":"x"},
		{"id":"exists","moduleId":"m1","importMode":"updateTwinIfMatchETag","twinETag":"AAAAAAAAAAA=","tags":{"a":1}},
		{"id":"ok2","importMode":"create"}
	]`)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Equal(t, "BulkRegistryOperationFailure", r.Header.Get("iothub-errorcode"))
	res := r.object(t)
	requireKeys(t, res, "isSuccessful", "errors", "warnings")
	assert.Equal(t, false, res["isSuccessful"])
	type failure struct{ device, module, code, op string }
	var got []failure
	for _, e := range res["errors"].([]any) {
		m := e.(map[string]any)
		assert.NotEmpty(t, m["errorStatus"])
		mod, _ := m["moduleId"].(string)
		got = append(got, failure{m["deviceId"].(string), mod, m["errorCode"].(string), m["operation"].(string)})
	}
	assert.Equal(t, []failure{
		{"exists", "", "DeviceAlreadyExists", "create"},
		{"missing", "", "DeviceNotFound", "update"},
		{"exists", "m2", "PreconditionFailed", "updateIfMatchETag"},
		{"bad id!", "", "ArgumentInvalid", "create"},
		{"missing2", "", "DeviceNotFound", "deleteIfMatchETag"},
		{"exists", "m1", "PreconditionFailed", "updateTwinIfMatchETag"},
	}, got)
	// The entries that succeeded stay applied.
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/devices/ok1", "").Status)
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/devices/ok2", "").Status)
}

func TestBulkTwinModes(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Tags: map[string]any{"keep": 1}}}})
	etag := h.do(http.MethodGet, "/twins/d1", "").object(t)["etag"].(string)
	r := h.do(http.MethodPost, "/devices", `[{"id":"d1","importMode":"updateTwinIfMatchETag","twinETag":"`+etag+`","tags":{"t":1},"properties":{"desired":{"p":2}}}]`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	tw := h.do(http.MethodGet, "/twins/d1", "").object(t)
	assert.Equal(t, map[string]any{"keep": 1.0, "t": 1.0}, tw["tags"])
	assert.Equal(t, 2.0, tw["properties"].(map[string]any)["desired"].(map[string]any)["p"])

	r = h.do(http.MethodPost, "/devices", `[{"id":"d1","importMode":"updateTwin","tags":{"t":null}}]`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, map[string]any{"keep": 1.0}, h.do(http.MethodGet, "/twins/d1", "").object(t)["tags"])
}

func TestBulkRequestRules(t *testing.T) {
	t.Parallel()
	entries := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"id":"d%d","importMode":"create"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name string
		body string
		code iothub.ErrorCode // 0: accepted
	}{
		{name: "100 entries", body: entries(100)},
		{name: "101 entries", body: entries(101), code: iothub.CodeTooManyDevices},
		{name: "empty", body: `[]`, code: iothub.CodeArgumentInvalid},
		{name: "not an array", body: `{"id":"d1"}`, code: iothub.CodeArgumentInvalid},
		{name: "same device twice", body: `[{"id":"d1","importMode":"create"},{"id":"d1","importMode":"delete"}]`, code: iothub.CodeDeviceDefinedMultipleTimes},
		{name: "unknown import mode", body: `[{"id":"d1","importMode":"upsert"}]`, code: iothub.CodeArgumentInvalid},
		{name: "invalid twin", body: `[{"id":"d1","importMode":"create","tags":{"a.b":1}}]`, code: iothub.CodeArgumentInvalid},
		{name: "import mode in another case", body: `[{"id":"d1","importMode":"Create"}]`},
		{name: "no import mode means createOrUpdate", body: `[{"id":"d1"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, nil)
			r := h.do(http.MethodPost, "/devices", tc.body)
			if tc.code != 0 {
				requireHubError(t, r, tc.code)
				assert.JSONEq(t, `{"totalDeviceCount":0,"enabledDeviceCount":0,"disabledDeviceCount":0}`, string(h.do(http.MethodGet, "/statistics/devices", "").Body))
				return
			}
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.Equal(t, true, r.object(t)["isSuccessful"])
		})
	}
}
