package emulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

// online connects a simulated device (or module, when mid is set) that
// echoes the payload of method "echo", and disconnects it at the end.
func online(t *testing.T, h *hub, id, mid string) *emulator.SimulatedDevice {
	t.Helper()
	var d *emulator.SimulatedDevice
	var err error
	if mid == "" {
		d, err = h.e.Device(id)
	} else {
		d, err = h.e.Module(id, mid)
	}
	require.NoError(t, err)
	d.HandleMethod("echo", func(_ context.Context, payload json.RawMessage) (int, any) {
		return 200, payload
	})
	require.NoError(t, d.Connect(context.Background()))
	t.Cleanup(d.Disconnect)
	return d
}

// structuredInfo returns the "info" object of a structured error body.
func structuredInfo(t *testing.T, r reply) map[string]any {
	t.Helper()
	var outer struct{ Message string }
	require.NoError(t, json.Unmarshal(r.Body, &outer))
	var inner struct {
		Info map[string]any `json:"info"`
	}
	require.NoError(t, json.Unmarshal([]byte(outer.Message), &inner), "message: %s", outer.Message)
	return inner.Info
}

func TestMethodSuccessBody(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
	d := online(t, h, "d1", "")
	d.HandleMethod("nothing", func(context.Context, json.RawMessage) (int, any) { return 204, nil })
	d.HandleMethod("fail", func(context.Context, json.RawMessage) (int, any) {
		return 500, map[string]string{"error": "fan jammed"}
	})
	online(t, h, "d1", "m1")

	tests := []struct {
		name, path, body string
		want             string
	}{
		{"echo object", "/twins/d1/methods", `{"methodName":"echo","payload":{"speed":3},"responseTimeoutInSeconds":10}`, `{"status":200,"payload":{"speed":3}}`},
		{"echo string", "/twins/d1/methods", `{"methodName":"echo","payload":"on"}`, `{"status":200,"payload":"on"}`},
		{"no payload sent", "/twins/d1/methods", `{"methodName":"echo"}`, `{"status":200,"payload":null}`},
		{"no payload answered", "/twins/d1/methods", `{"methodName":"nothing","payload":1}`, `{"status":204,"payload":null}`},
		{"device error is still 200", "/twins/d1/methods", `{"methodName":"fail"}`, `{"status":500,"payload":{"error":"fan jammed"}}`},
		{"no handler", "/twins/d1/methods", `{"methodName":"reboot"}`, `{"status":501,"payload":null}`},
		{"module", "/twins/d1/modules/m1/methods", `{"methodName":"echo","payload":[1,2]}`, `{"status":200,"payload":[1,2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := h.do(http.MethodPost, tt.path, tt.body)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
			requireKeys(t, r.object(t), "status", "payload")
			assert.JSONEq(t, tt.want, string(r.Body))
		})
	}
}

func TestMethodErrors(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{
		{DeviceID: "on", Modules: []string{"m1"}},
		{DeviceID: "off"},
		{DeviceID: "mute"},
		{DeviceID: "disabled", Disabled: true},
	}})
	online(t, h, "on", "")
	mute, err := h.e.Device("mute") // connected, but no handler: not subscribed to methods
	require.NoError(t, err)
	require.NoError(t, mute.Connect(context.Background()))
	t.Cleanup(mute.Disconnect)

	big := `{"methodName":"echo","payload":"` + strings.Repeat("x", 128*1024) + `"}`
	tests := []struct {
		name, policy, method, path, body string
		code                             iothub.ErrorCode
		timeout                          string // info.timeout of a 404103
	}{
		{"no method name", "", http.MethodPost, "/twins/on/methods", `{"payload":1}`, iothub.CodeArgumentInvalid, ""},
		{"empty body", "", http.MethodPost, "/twins/on/methods", ``, iothub.CodeArgumentInvalid, ""},
		{"malformed body", "", http.MethodPost, "/twins/on/methods", `{"methodName":`, iothub.CodeArgumentInvalid, ""},
		{"timeout not a number", "", http.MethodPost, "/twins/on/methods", `{"methodName":"echo","responseTimeoutInSeconds":"ten"}`, iothub.CodeArgumentInvalid, ""},
		{"response timeout too short", "", http.MethodPost, "/twins/on/methods", `{"methodName":"echo","responseTimeoutInSeconds":4}`, iothub.CodeArgumentInvalid, ""},
		{"response timeout too long", "", http.MethodPost, "/twins/on/methods", `{"methodName":"echo","responseTimeoutInSeconds":301}`, iothub.CodeArgumentInvalid, ""},
		{"negative connect timeout", "", http.MethodPost, "/twins/on/methods", `{"methodName":"echo","connectTimeoutInSeconds":-1}`, iothub.CodeArgumentInvalid, ""},
		{"connect timeout too long", "", http.MethodPost, "/twins/on/methods", `{"methodName":"echo","connectTimeoutInSeconds":301}`, iothub.CodeArgumentInvalid, ""},
		{"payload over 128 KB", "", http.MethodPost, "/twins/on/methods", big, iothub.CodeMessageTooLarge, ""},
		{"bad device id", "", http.MethodPost, "/twins/a%20b/methods", `{"methodName":"echo"}`, iothub.CodeArgumentInvalid, ""},
		{"unknown device", "", http.MethodPost, "/twins/nobody/methods", `{"methodName":"echo"}`, iothub.CodeDeviceNotFound, ""},
		{"unknown module", "", http.MethodPost, "/twins/on/modules/nobody/methods", `{"methodName":"echo"}`, iothub.CodeModuleNotFound, ""},
		{"module of unknown device", "", http.MethodPost, "/twins/nobody/modules/m1/methods", `{"methodName":"echo"}`, iothub.CodeDeviceNotFound, ""},
		{"offline device", "", http.MethodPost, "/twins/off/methods", `{"methodName":"echo"}`, iothub.CodeDeviceNotOnline, "00:00:00"},
		{"offline module", "", http.MethodPost, "/twins/on/modules/m1/methods", `{"methodName":"echo"}`, iothub.CodeDeviceNotOnline, "00:00:00"},
		{"offline past connect timeout", "", http.MethodPost, "/twins/off/methods", `{"methodName":"echo","connectTimeoutInSeconds":1}`, iothub.CodeDeviceNotOnline, "00:00:01"},
		{"connected, not subscribed", "", http.MethodPost, "/twins/mute/methods", `{"methodName":"echo"}`, iothub.CodeDeviceNotOnline, "00:00:00"},
		{"disabled device", "", http.MethodPost, "/twins/disabled/methods", `{"methodName":"echo"}`, iothub.CodeDeviceNotOnline, "00:00:00"},
		{"registryRead policy", "registryRead", http.MethodPost, "/twins/on/methods", `{"methodName":"echo"}`, iothub.CodeIotHubUnauthorizedAccess, ""},
		{"registryReadWrite policy", "registryReadWrite", http.MethodPost, "/twins/on/methods", `{"methodName":"echo"}`, iothub.CodeIotHubUnauthorizedAccess, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			policy := tt.policy
			if policy == "" {
				policy = "service"
			}
			r := h.doAs(policy, tt.method, tt.path, tt.body)
			requireHubError(t, r, tt.code)
			if tt.timeout != "" {
				assert.Equal(t, map[string]any{"timeout": tt.timeout}, structuredInfo(t, r))
			}
		})
	}

	t.Run("GET is not allowed", func(t *testing.T) {
		t.Parallel()
		r := h.do(http.MethodGet, "/twins/on/methods", "")
		assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
	})
}

func TestMethodResponseTimeout(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "slow"}}})
	d := online(t, h, "slow", "")
	ended := make(chan error, 1)
	d.HandleMethod("wait", func(ctx context.Context, _ json.RawMessage) (int, any) {
		<-ctx.Done()
		ended <- ctx.Err()
		return 200, nil
	})
	r := h.do(http.MethodPost, "/twins/slow/methods", `{"methodName":"wait","responseTimeoutInSeconds":5}`)
	requireHubError(t, r, iothub.CodeGatewayTimeout)
	select {
	case err := <-ended:
		require.Error(t, err, "the handler's context ends at the response time-out")
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context did not end")
	}
}

func TestMethodWaitsForConnect(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "late"}}})
	d, err := h.e.Device("late")
	require.NoError(t, err)
	d.HandleMethod("echo", func(_ context.Context, p json.RawMessage) (int, any) { return 200, p })
	t.Cleanup(d.Disconnect)
	done := make(chan reply, 1)
	go func() {
		done <- h.do(http.MethodPost, "/twins/late/methods", `{"methodName":"echo","payload":"hi","connectTimeoutInSeconds":30}`)
	}()
	// The call waits (it cannot have an answer before the device connects).
	require.Eventually(t, func() bool { return h.e.RequestCount(http.MethodPost, "/twins/late/methods") == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, d.Connect(context.Background()))
	select {
	case r := <-done:
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.JSONEq(t, `{"status":200,"payload":"hi"}`, string(r.Body))
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not end after the device connected")
	}
}

func TestMethodHandlerFailures(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	d := online(t, h, "d1", "")
	d.HandleMethod("panic", func(context.Context, json.RawMessage) (int, any) { panic("boom") })
	d.HandleMethod("unencodable", func(context.Context, json.RawMessage) (int, any) { return 200, make(chan int) })
	d.HandleMethod("invalid raw", func(context.Context, json.RawMessage) (int, any) { return 200, json.RawMessage(`{`) })
	for _, name := range []string{"panic", "unencodable", "invalid raw"} {
		r := h.do(http.MethodPost, "/twins/d1/methods", mustJSON(t, map[string]any{"methodName": name}))
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		assert.JSONEq(t, `{"status":500,"payload":null}`, string(r.Body), name)
	}

	got := make(chan string, 10)
	d.HandleDefault(func(_ context.Context, name string, _ json.RawMessage) (int, any) {
		got <- name
		return 202, "default"
	})
	r := h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"reboot"}`)
	assert.JSONEq(t, `{"status":202,"payload":"default"}`, string(r.Body))
	r = h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"echo","payload":1}`)
	assert.JSONEq(t, `{"status":200,"payload":1}`, string(r.Body), "a method's own handler comes first")
	assert.Equal(t, "reboot", <-got)
	assert.Empty(t, got)

	d.HandleDefault(nil)
	r = h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"reboot"}`)
	assert.JSONEq(t, `{"status":501,"payload":null}`, string(r.Body))
}

func TestMethodUnsubscribe(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	d := online(t, h, "d1", "")
	d.HandleMethod("echo", nil)
	r := h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"echo"}`)
	requireHubError(t, r, iothub.CodeDeviceNotOnline)
}

func TestMethodCallEndsWhenDeviceDisconnects(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	d := online(t, h, "d1", "")
	entered := make(chan struct{})
	d.HandleMethod("hang", func(ctx context.Context, _ json.RawMessage) (int, any) {
		close(entered)
		<-ctx.Done()
		return 200, nil
	})
	done := make(chan reply, 1)
	go func() {
		done <- h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"hang","responseTimeoutInSeconds":300}`)
	}()
	<-entered
	d.Disconnect()
	requireHubError(t, <-done, iothub.CodeDeviceNotOnline)
}

func TestSimulatedDeviceIdentityErrors(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}, {DeviceID: "off", Disabled: true, Modules: []string{"m"}}}})
	_, err := h.e.Device("nobody")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
	_, err = h.e.Module("d1", "nobody")
	require.ErrorIs(t, err, iothub.ErrModuleNotFound)
	_, err = h.e.Module("nobody", "m1")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)

	off, err := h.e.Device("off")
	require.NoError(t, err)
	require.ErrorIs(t, off.Connect(context.Background()), emulator.ErrDeviceDisabled)
	assert.False(t, off.Connected())
	offModule, err := h.e.Module("off", "m")
	require.NoError(t, err)
	require.ErrorIs(t, offModule.Connect(context.Background()), emulator.ErrDeviceDisabled, "a module of a disabled device cannot connect")

	d, err := h.e.Device("d1")
	require.NoError(t, err)
	_, err = d.ReportProperties(context.Background(), map[string]any{"a": 1})
	require.ErrorIs(t, err, emulator.ErrNotConnected)
	_, err = d.Twin(context.Background())
	require.ErrorIs(t, err, emulator.ErrNotConnected)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, d.Connect(ctx), context.Canceled)
}

// connectionState reads a device's or module's connectionState over REST.
func connectionState(t *testing.T, h *hub, path string) string {
	t.Helper()
	r := h.do(http.MethodGet, path, "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	s, _ := r.object(t)["connectionState"].(string)
	return s
}

func connectedDevices(t *testing.T, h *hub) string {
	t.Helper()
	r := h.do(http.MethodGet, "/statistics/service", "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	return string(r.Body)
}

func TestConnectionStateAndStatistics(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}, {DeviceID: "d2"}}})
	ctx := context.Background()
	before := h.do(http.MethodGet, "/devices/d1", "").object(t)

	d1, err := h.e.Device("d1")
	require.NoError(t, err)
	require.NoError(t, d1.Connect(ctx))
	require.NoError(t, d1.Connect(ctx), "connecting twice is a no-op")
	assert.True(t, d1.Connected())
	dev := h.do(http.MethodGet, "/devices/d1", "").object(t)
	assert.Equal(t, "Connected", dev["connectionState"])
	assert.NotEqual(t, before["connectionStateUpdatedTime"], dev["connectionStateUpdatedTime"])
	assert.NotEqual(t, "0001-01-01T00:00:00Z", dev["lastActivityTime"])
	assert.Equal(t, "Connected", connectionState(t, h, "/twins/d1"))
	assert.JSONEq(t, `{"connectedDeviceCount":1}`, connectedDevices(t, h))

	m1, err := h.e.Module("d1", "m1")
	require.NoError(t, err)
	require.NoError(t, m1.Connect(ctx))
	assert.Equal(t, "Connected", connectionState(t, h, "/devices/d1/modules/m1"))
	assert.JSONEq(t, `{"connectedDeviceCount":1}`, connectedDevices(t, h), "a module is not a device")

	d2, err := h.e.Device("d2")
	require.NoError(t, err)
	require.NoError(t, d2.Connect(ctx))
	assert.JSONEq(t, `{"connectedDeviceCount":2}`, connectedDevices(t, h))

	d1.Disconnect()
	d1.Disconnect() // no-op
	assert.False(t, d1.Connected())
	assert.Equal(t, "Disconnected", connectionState(t, h, "/devices/d1"))
	assert.Equal(t, "Connected", connectionState(t, h, "/devices/d1/modules/m1"), "the module's connection is its own")
	assert.JSONEq(t, `{"connectedDeviceCount":1}`, connectedDevices(t, h))

	require.NoError(t, d1.Connect(ctx), "connecting again after Disconnect works")
	assert.Equal(t, "Connected", connectionState(t, h, "/devices/d1"))

	// A second connection of the same identity replaces the first.
	again, err := h.e.Device("d1")
	require.NoError(t, err)
	require.NoError(t, again.Connect(ctx))
	assert.False(t, d1.Connected())
	assert.True(t, again.Connected())
	assert.JSONEq(t, `{"connectedDeviceCount":2}`, connectedDevices(t, h))
	again.Disconnect()
	m1.Disconnect()
	d2.Disconnect()
	assert.JSONEq(t, `{"connectedDeviceCount":0}`, connectedDevices(t, h))
}

func TestDisableAndDeleteDisconnect(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{
		{DeviceID: "dis", Modules: []string{"m"}}, {DeviceID: "del", Modules: []string{"m"}}, {DeviceID: "mod", Modules: []string{"m"}}, {DeviceID: "bulk"},
	}})
	ctx := context.Background()
	connect := func(id, mid string) *emulator.SimulatedDevice {
		return online(t, h, id, mid)
	}
	dis, disM := connect("dis", ""), connect("dis", "m")
	del, delM := connect("del", ""), connect("del", "m")
	modDev, modM := connect("mod", ""), connect("mod", "m")
	bulk := connect("bulk", "")
	assert.JSONEq(t, `{"connectedDeviceCount":4}`, connectedDevices(t, h))

	require.Equal(t, http.StatusOK, h.do(http.MethodPut, "/devices/dis", `{"status":"disabled"}`, "If-Match", "*").Status)
	assert.False(t, dis.Connected(), "disabling a device disconnects it")
	assert.False(t, disM.Connected(), "and its modules")
	assert.Equal(t, "Disconnected", connectionState(t, h, "/devices/dis"))
	require.ErrorIs(t, dis.Connect(ctx), emulator.ErrDeviceDisabled)

	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/devices/del", "").Status)
	assert.False(t, del.Connected(), "deleting a device disconnects it")
	assert.False(t, delM.Connected())
	require.ErrorIs(t, del.Connect(ctx), iothub.ErrDeviceNotFound)

	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/devices/mod/modules/m", "").Status)
	assert.False(t, modM.Connected(), "deleting a module disconnects it")
	assert.True(t, modDev.Connected(), "but not its device")
	require.ErrorIs(t, modM.Connect(ctx), iothub.ErrModuleNotFound)

	r := h.do(http.MethodPost, "/devices", `[{"id":"bulk","importMode":"update","status":"disabled"}]`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.False(t, bulk.Connected(), "a bulk disable disconnects too")
	assert.JSONEq(t, `{"connectedDeviceCount":1}`, connectedDevices(t, h))

	// Enabled again, the device connects again.
	require.Equal(t, http.StatusOK, h.do(http.MethodPut, "/devices/dis", `{"status":"enabled"}`, "If-Match", "*").Status)
	require.NoError(t, dis.Connect(ctx))
}

func TestDesiredPropertiesReachDevice(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}, Desired: map[string]any{"keep": 1}}}})
	type update struct {
		patch   map[string]any
		version int64
	}
	subscribe := func(d *emulator.SimulatedDevice) chan update {
		ch := make(chan update, 16)
		d.OnDesiredProperties(func(p map[string]any, v int64) { ch <- update{p, v} })
		return ch
	}
	next := func(ch chan update) update {
		t.Helper()
		select {
		case u := <-ch:
			return u
		case <-time.After(10 * time.Second):
			t.Fatal("no desired-properties update")
			return update{}
		}
	}
	d := online(t, h, "d1", "")
	updates := subscribe(d)
	m := online(t, h, "d1", "m1")
	moduleUpdates := subscribe(m)

	r := h.do(http.MethodPatch, "/twins/d1", `{"properties":{"desired":{"fan":{"speed":3},"keep":null}}}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	desiredVersion := func(r reply) int64 {
		props := r.object(t)["properties"].(map[string]any)
		return int64(props["desired"].(map[string]any)["$version"].(float64))
	}
	u := next(updates)
	assert.Equal(t, map[string]any{"fan": map[string]any{"speed": float64(3)}, "keep": nil}, u.patch, "a PATCH sends the patch, nulls included")
	assert.Equal(t, desiredVersion(r), u.version)

	r = h.do(http.MethodPatch, "/twins/d1", `{"tags":{"only":"tags"}}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	r = h.do(http.MethodPut, "/twins/d1", `{"properties":{"desired":{"mode":"eco"}}}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	u = next(updates)
	assert.Equal(t, map[string]any{"mode": "eco"}, u.patch, "a PUT sends the whole new desired properties; a tags-only PATCH sends nothing")
	assert.Equal(t, desiredVersion(r), u.version)

	r = h.do(http.MethodPatch, "/twins/d1/modules/m1", `{"properties":{"desired":{"level":"debug"}}}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, map[string]any{"level": "debug"}, next(moduleUpdates).patch)

	// A bulk twin update reaches the device as a PATCH does.
	r = h.do(http.MethodPost, "/devices", `[{"id":"d1","importMode":"updateTwin","properties":{"desired":{"bulk":"yes"}}}]`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	u = next(updates)
	assert.Equal(t, map[string]any{"bulk": "yes"}, u.patch)
	tw, err := d.Twin(context.Background())
	require.NoError(t, err)
	assert.Equal(t, float64(u.version), tw.Desired["$version"])

	// Updates arrive in $version order.
	for i := range 20 {
		r := h.do(http.MethodPatch, "/twins/d1", mustJSON(t, map[string]any{"properties": map[string]any{"desired": map[string]any{"n": i}}}))
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	}
	last := u.version
	for i := range 20 {
		u := next(updates)
		assert.Equal(t, float64(i), u.patch["n"])
		assert.Equal(t, last+1, u.version)
		last = u.version
	}

	// Unsubscribed: no more updates.
	d.OnDesiredProperties(nil)
	h.do(http.MethodPatch, "/twins/d1", `{"properties":{"desired":{"quiet":true}}}`)
	tw, err = d.Twin(context.Background())
	require.NoError(t, err)
	assert.Equal(t, true, tw.Desired["quiet"], "the device can still read its twin")
	assert.Equal(t, float64(last+1), tw.Desired["$version"])
	assert.NotContains(t, tw.Desired, "$metadata")
	assert.Empty(t, updates)
}

func TestReportProperties(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
	ctx := context.Background()
	d := online(t, h, "d1", "")
	v1, err := d.ReportProperties(ctx, map[string]any{"firmware": "1.2", "battery": map[string]any{"level": 80}})
	require.NoError(t, err)
	v2, err := d.ReportProperties(ctx, map[string]any{"battery": map[string]any{"level": 79, "charging": true}, "firmware": nil})
	require.NoError(t, err)
	assert.Equal(t, v1+1, v2)

	r := h.do(http.MethodGet, "/twins/d1", "")
	require.Equal(t, http.StatusOK, r.Status)
	reported := r.object(t)["properties"].(map[string]any)["reported"].(map[string]any)
	assert.Equal(t, float64(v2), reported["$version"])
	assert.Equal(t, map[string]any{"level": float64(79), "charging": true}, reported["battery"])
	assert.NotContains(t, reported, "firmware", "nil deletes")
	meta := reported["$metadata"].(map[string]any)
	assert.Contains(t, meta["battery"].(map[string]any), "charging")
	assert.NotContains(t, meta, "firmware")
	assert.NotContains(t, meta, "$lastUpdatedVersion", "reported metadata has no versions")

	tw, err := d.Twin(ctx)
	require.NoError(t, err)
	assert.Equal(t, float64(v2), tw.Reported["$version"])
	assert.NotContains(t, tw.Reported, "$metadata")

	m := online(t, h, "d1", "m1")
	_, err = m.ReportProperties(ctx, map[string]any{"module": true})
	require.NoError(t, err)
	mr := h.do(http.MethodGet, "/twins/d1/modules/m1", "").object(t)["properties"].(map[string]any)["reported"].(map[string]any)
	assert.Equal(t, true, mr["module"])

	for name, patch := range map[string]map[string]any{
		"dollar name":    {"$bad": 1},
		"dotted name":    {"a.b": 1},
		"too deep":       deep(12),
		"unencodable":    {"ch": make(chan int)},
		"string too big": {"s": strings.Repeat("x", 5000)},
	} {
		_, err := d.ReportProperties(ctx, patch)
		var he *iothub.Error
		require.ErrorAs(t, err, &he, name)
		assert.Equal(t, 400, he.StatusCode, name)
	}
}

func deep(n int) map[string]any {
	m := map[string]any{"leaf": 1}
	for range n {
		m = map[string]any{"x": m}
	}
	return m
}

func TestShutdownEndsCallsAndSessions(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}, {DeviceID: "off"}}})
	require.NoError(t, err)
	h := &hub{t: t, e: e}
	d, err := e.Device("d1")
	require.NoError(t, err)
	require.NoError(t, d.Connect(context.Background()))
	done := make(chan reply, 1)
	go func() {
		done <- h.do(http.MethodPost, "/twins/off/methods", `{"methodName":"x","connectTimeoutInSeconds":300}`)
	}()
	require.Eventually(t, func() bool { return e.RequestCount(http.MethodPost, "/twins/off/methods") == 1 }, 10*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, e.Shutdown(ctx), "a call waiting for a device does not hold Shutdown up")
	requireHubError(t, <-done, iothub.CodeServiceUnavailable)
	assert.False(t, d.Connected())
	require.ErrorIs(t, d.Connect(context.Background()), emulator.ErrEmulatorClosed)
}

func TestConnectionCount(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	assert.Zero(t, h.e.ConnectionCount())
	for range 5 {
		h.do(http.MethodGet, "/statistics/service", "")
	}
	assert.EqualValues(t, 1, h.e.ConnectionCount(), "the client reuses its connection")
}
