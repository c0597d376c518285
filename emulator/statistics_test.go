package emulator_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

func TestStatistics(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "a"}, {DeviceID: "b", Disabled: true}}})
	stats := func() string {
		r := h.do(http.MethodGet, "/statistics/devices", "")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		requireKeys(t, r.object(t), "totalDeviceCount", "enabledDeviceCount", "disabledDeviceCount")
		return string(r.Body)
	}
	assert.JSONEq(t, `{"totalDeviceCount":2,"enabledDeviceCount":1,"disabledDeviceCount":1}`, stats())

	h.do(http.MethodPut, "/devices/c", `{}`)
	assert.JSONEq(t, `{"totalDeviceCount":3,"enabledDeviceCount":2,"disabledDeviceCount":1}`, stats())
	h.do(http.MethodPut, "/devices/a", `{"status":"disabled"}`, "If-Match", "*")
	assert.JSONEq(t, `{"totalDeviceCount":3,"enabledDeviceCount":1,"disabledDeviceCount":2}`, stats())
	h.do(http.MethodDelete, "/devices/b", "")
	assert.JSONEq(t, `{"totalDeviceCount":2,"enabledDeviceCount":1,"disabledDeviceCount":1}`, stats())
	h.do(http.MethodPost, "/devices", `[{"id":"x","importMode":"create"},{"id":"c","importMode":"delete"}]`)
	assert.JSONEq(t, `{"totalDeviceCount":2,"enabledDeviceCount":1,"disabledDeviceCount":1}`, stats())

	svc := h.do(http.MethodGet, "/statistics/service", "")
	require.Equal(t, http.StatusOK, svc.Status)
	assert.JSONEq(t, `{"connectedDeviceCount":0}`, string(svc.Body))
}
