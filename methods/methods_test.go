package methods_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

const methodsPath = "/twins/**"

// fastRetry keeps the retry tests short.
var fastRetry = &iothub.ClientOptions{Retry: iothub.RetryOptions{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond}}

func newHub(t testing.TB, devices ...emulator.DeviceSeed) (*emulator.Emulator, *methods.Client) {
	t.Helper()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: devices})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	c, err := methods.NewClientFromConnectionString(e.ConnectionString(), fastRetry)
	require.NoError(t, err)
	return e, c
}

// echoDevice connects a simulated device or module whose method "echo"
// answers its payload with status 200.
func echoDevice(t testing.TB, e *emulator.Emulator, id, mid string) *emulator.SimulatedDevice {
	t.Helper()
	var d *emulator.SimulatedDevice
	var err error
	if mid == "" {
		d, err = e.Device(id)
	} else {
		d, err = e.Module(id, mid)
	}
	require.NoError(t, err)
	d.HandleMethod("echo", func(_ context.Context, payload json.RawMessage) (int, any) { return 200, payload })
	require.NoError(t, d.Connect(context.Background()))
	t.Cleanup(d.Disconnect)
	return d
}

type fan struct {
	Speed int    `json:"speed"`
	Mode  string `json:"mode"`
}

func TestInvokePayloadRoundTrip(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	echoDevice(t, e, "d1", "")
	tests := []struct {
		name    string
		payload any
		want    string
	}{
		{"nil", nil, `null`},
		{"raw message", json.RawMessage(`{"a":[1,2,{"b":null}]}`), `{"a":[1,2,{"b":null}]}`},
		{"struct", fan{Speed: 3, Mode: "eco"}, `{"speed":3,"mode":"eco"}`},
		{"string", "on", `"on"`},
		{"number", 42, `42`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.Invoke(context.Background(), "d1", &methods.Request{MethodName: "echo", Payload: tt.payload})
			require.NoError(t, err)
			assert.Equal(t, 200, resp.Status)
			assert.JSONEq(t, tt.want, string(resp.Payload))
		})
	}

	resp, err := c.Invoke(context.Background(), "d1", &methods.Request{MethodName: "echo", Payload: fan{Speed: 2, Mode: "boost"}})
	require.NoError(t, err)
	var got fan
	require.NoError(t, resp.Decode(&got))
	assert.Equal(t, fan{Speed: 2, Mode: "boost"}, got)
}

func TestInvokeModule(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, emulator.DeviceSeed{DeviceID: "d1", Modules: []string{"m1", "m2"}})
	echoDevice(t, e, "d1", "m1")
	m2, err := e.Module("d1", "m2")
	require.NoError(t, err)
	m2.HandleMethod("whoami", func(context.Context, json.RawMessage) (int, any) { return 200, "m2" })
	require.NoError(t, m2.Connect(context.Background()))
	t.Cleanup(m2.Disconnect)
	ctx := context.Background()

	resp, err := c.InvokeModule(ctx, "d1", "m1", &methods.Request{MethodName: "echo", Payload: map[string]int{"x": 1}})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.JSONEq(t, `{"x":1}`, string(resp.Payload))

	resp, err = c.InvokeModule(ctx, "d1", "m2", &methods.Request{MethodName: "whoami"})
	require.NoError(t, err)
	assert.JSONEq(t, `"m2"`, string(resp.Payload))

	_, err = c.Invoke(ctx, "d1", &methods.Request{MethodName: "echo"})
	require.ErrorIs(t, err, iothub.ErrDeviceNotOnline, "a module's connection is not the device's")
}

func TestInvokeDeviceStatuses(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	d := echoDevice(t, e, "d1", "")
	d.HandleMethod("fail", func(context.Context, json.RawMessage) (int, any) {
		return 500, map[string]string{"error": "fan jammed"}
	})
	d.HandleMethod("panic", func(context.Context, json.RawMessage) (int, any) { panic("bug") })
	d.HandleMethod("teapot", func(context.Context, json.RawMessage) (int, any) { return 418, nil })
	tests := []struct {
		method  string
		status  int
		payload string
	}{
		{"fail", 500, `{"error":"fan jammed"}`},
		{"panic", emulator.StatusUserCodeException, `null`},
		{"teapot", 418, `null`},
		{"unknown", emulator.StatusMethodNotImplemented, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			t.Parallel()
			resp, err := c.Invoke(context.Background(), "d1", &methods.Request{MethodName: tt.method})
			require.NoError(t, err, "a device's own status is not an error")
			assert.Equal(t, tt.status, resp.Status)
			assert.JSONEq(t, tt.payload, string(resp.Payload))
		})
	}
}

func TestInvokeConnectTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		connectTimeout time.Duration
		wantErr        error
	}{
		{"device connects within the connect time-out", 5 * time.Second, nil},
		{"no connect time-out", 0, iothub.ErrDeviceNotOnline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, c := newHub(t, emulator.DeviceSeed{DeviceID: "late"})
			d, err := e.Device("late")
			require.NoError(t, err)
			d.HandleMethod("echo", func(_ context.Context, p json.RawMessage) (int, any) { return 200, p })
			t.Cleanup(d.Disconnect)
			connected := make(chan error, 1)
			timer := time.AfterFunc(2*time.Second, func() { connected <- d.Connect(context.Background()) })
			t.Cleanup(func() { timer.Stop() })

			resp, err := c.Invoke(context.Background(), "late", &methods.Request{MethodName: "echo", Payload: "hi", ConnectTimeout: tt.connectTimeout})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				select {
				case <-connected:
					t.Fatal("the call should have failed before the device connected")
				default:
				}
				return
			}
			require.NoError(t, err)
			require.NoError(t, <-connected)
			assert.JSONEq(t, `"hi"`, string(resp.Payload))
		})
	}
}

func TestInvokeResponseTimeout(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, emulator.DeviceSeed{DeviceID: "slow"})
	d := echoDevice(t, e, "slow", "")
	ended := make(chan struct{})
	d.HandleMethod("sleep", func(ctx context.Context, _ json.RawMessage) (int, any) {
		<-ctx.Done() // sleeps past the response time-out, bounded by it
		close(ended)
		return 200, "too late"
	})
	_, err := c.Invoke(context.Background(), "slow", &methods.Request{MethodName: "sleep", ResponseTimeout: methods.MinResponseTimeout})
	require.ErrorIs(t, err, iothub.ErrTimeout)
	var he *iothub.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, iothub.CodeGatewayTimeout, he.Code)
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context did not end")
	}
}

func TestInvokeErrors(t *testing.T) {
	t.Parallel()
	e, c := newHub(t,
		emulator.DeviceSeed{DeviceID: "on", Modules: []string{"m1"}},
		emulator.DeviceSeed{DeviceID: "off"},
		emulator.DeviceSeed{DeviceID: "disabled", Disabled: true},
	)
	echoDevice(t, e, "on", "")
	disabled, err := e.Device("disabled")
	require.NoError(t, err)
	disabled.HandleMethod("echo", func(context.Context, json.RawMessage) (int, any) { return 200, nil })
	require.ErrorIs(t, disabled.Connect(context.Background()), emulator.ErrDeviceDisabled)

	readOnly, err := e.PolicyConnectionString("registryRead")
	require.NoError(t, err)
	rc, err := methods.NewClientFromConnectionString(readOnly, fastRetry)
	require.NoError(t, err)

	tests := []struct {
		name         string
		client       *methods.Client
		device, mod  string
		want         error
		wantCode     iothub.ErrorCode
		sentToTheHub bool
		request      *methods.Request
	}{
		{name: "offline", device: "off", want: iothub.ErrDeviceNotOnline, sentToTheHub: true},
		{name: "disabled", device: "disabled", want: iothub.ErrDeviceNotOnline, sentToTheHub: true},
		{name: "offline module", device: "on", mod: "m1", want: iothub.ErrDeviceNotOnline, sentToTheHub: true},
		{name: "unknown device", device: "nobody", want: iothub.ErrDeviceNotFound, sentToTheHub: true},
		{name: "unknown module", device: "on", mod: "nobody", want: iothub.ErrModuleNotFound, sentToTheHub: true},
		{name: "registryRead policy", client: rc, device: "on", want: iothub.ErrUnauthorized, sentToTheHub: true},
		{name: "payload over 128 KB", device: "on", want: iothub.ErrMessageTooLarge,
			request: &methods.Request{MethodName: "echo", Payload: strings.Repeat("x", methods.MaxPayloadSize)}},
		{name: "no method name", device: "on", want: iothub.ErrArgumentInvalid, request: &methods.Request{}},
		{name: "response timeout too short", device: "on", want: iothub.ErrArgumentInvalid,
			request: &methods.Request{MethodName: "echo", ResponseTimeout: time.Second}},
		{name: "bad device id", device: "a b", want: iothub.ErrArgumentInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: each case counts the requests it sent.
			client := tt.client
			if client == nil {
				client = c
			}
			req := tt.request
			if req == nil {
				req = &methods.Request{MethodName: "echo"}
			}
			before := e.RequestCount(http.MethodPost, methodsPath)
			var err error
			if tt.mod == "" {
				_, err = client.Invoke(context.Background(), tt.device, req)
			} else {
				_, err = client.InvokeModule(context.Background(), tt.device, tt.mod, req)
			}
			require.ErrorIs(t, err, tt.want)
			sent := e.RequestCount(http.MethodPost, methodsPath) - before
			if tt.sentToTheHub {
				assert.Equal(t, 1, sent, "sent once, never repeated")
			} else {
				assert.Zero(t, sent, "rejected before sending")
			}
		})
	}
}

func TestInvokeRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     emulator.Fault
		wantErr   error
		wantCalls int
	}{
		{"429 is retried", emulator.Fault{Code: iothub.CodeThrottlingException, Count: 2}, nil, 3},
		{"503 is not retried", emulator.Fault{Code: iothub.CodeServiceUnavailable, Count: 1}, &iothub.Error{StatusCode: 503}, 1},
		{"500 is not retried", emulator.Fault{Code: iothub.CodeServerError, Count: 1}, &iothub.Error{StatusCode: 500}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, c := newHub(t, emulator.DeviceSeed{DeviceID: "d1"})
			d := echoDevice(t, e, "d1", "")
			calls := make(chan struct{}, 10)
			d.HandleMethod("count", func(context.Context, json.RawMessage) (int, any) {
				calls <- struct{}{}
				return 200, nil
			})
			f := tt.fault
			f.Method, f.Path = http.MethodPost, "/twins/d1/methods"
			e.InjectFault(f)
			resp, err := c.Invoke(context.Background(), "d1", &methods.Request{MethodName: "count"})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Empty(t, calls, "the device never saw the call")
			} else {
				require.NoError(t, err)
				assert.Equal(t, 200, resp.Status)
				assert.Len(t, calls, 1, "the device saw the call once")
			}
			assert.Equal(t, tt.wantCalls, e.RequestCount(http.MethodPost, "/twins/d1/methods"))
		})
	}
}

func TestInvokeConcurrentBoundedConnections(t *testing.T) {
	t.Parallel()
	const devices, calls = 100, 1000
	seeds := make([]emulator.DeviceSeed, devices)
	for i := range seeds {
		seeds[i].DeviceID = fmt.Sprintf("dev-%03d", i)
	}
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: seeds})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	for _, s := range seeds {
		d, err := e.Device(s.DeviceID)
		require.NoError(t, err)
		id := s.DeviceID
		d.HandleMethod("whoami", func(_ context.Context, p json.RawMessage) (int, any) {
			return 200, map[string]any{"device": id, "call": p}
		})
		require.NoError(t, d.Connect(context.Background()))
	}
	// The SDK's own default HTTP client: its pool is what is under test.
	c, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			id := seeds[i%devices].DeviceID
			resp, err := c.Invoke(ctx, id, &methods.Request{MethodName: "whoami", Payload: i})
			if err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
				return
			}
			var got struct {
				Device string `json:"device"`
				Call   int    `json:"call"`
			}
			if err := resp.Decode(&got); err != nil || resp.Status != 200 || got.Device != id || got.Call != i {
				errs <- fmt.Errorf("call %d: status %d, answer %s, %v", i, resp.Status, resp.Payload, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	conns := e.ConnectionCount()
	t.Logf("%d calls to %d devices over %d TCP connections", calls, devices, conns)
	assert.LessOrEqual(t, conns, int64(32), "the default client bounds its connections (transport.MaxConnsPerHost)")
	assert.Positive(t, conns)
	assert.Equal(t, calls, e.RequestCount(http.MethodPost, methodsPath))
}

func TestDesiredReportedRoundTrip(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "thermostat"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	tc, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	ctx := context.Background()

	d, err := e.Device("thermostat")
	require.NoError(t, err)
	type update struct {
		patch   map[string]any
		version int64
	}
	updates := make(chan update, 1)
	d.OnDesiredProperties(func(patch map[string]any, version int64) { updates <- update{patch, version} })
	require.NoError(t, d.Connect(ctx))
	t.Cleanup(d.Disconnect)

	written, err := tc.Update(ctx, "thermostat", &twin.Patch{Desired: map[string]any{"target": 21.5}})
	require.NoError(t, err)
	var u update
	select {
	case u = <-updates:
	case <-time.After(10 * time.Second):
		t.Fatal("the device did not see the desired properties")
	}
	assert.Equal(t, map[string]any{"target": 21.5}, u.patch)
	assert.Equal(t, written.Properties.Desired.Version(), u.version)

	// The device applies the setting and reports it back.
	v, err := d.ReportProperties(ctx, map[string]any{"target": u.patch["target"], "ackVersion": u.version})
	require.NoError(t, err)

	got, err := tc.Get(ctx, "thermostat")
	require.NoError(t, err)
	reported := got.Properties.Reported
	assert.Equal(t, v, reported.Version())
	target, ok := reported.Get("target")
	require.True(t, ok)
	assert.EqualValues(t, 21.5, target)
	ack, _ := reported.Get("ackVersion")
	assert.EqualValues(t, u.version, ack)
	when, ok := reported.LastUpdated("target")
	require.True(t, ok, "each reported leaf has $metadata.$lastUpdated")
	assert.WithinDuration(t, time.Now(), when, time.Minute)
	assert.Equal(t, written.Properties.Desired.Version(), got.Properties.Desired.Version(), "a reported write leaves the desired $version alone")
	assert.Greater(t, got.Version, written.Version, "but moves the twin's version")
	assert.NotEqual(t, written.ETag, got.ETag)
}

func TestConnectionStateAndServiceStatistics(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	rc, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	ctx := context.Background()
	state := func() (registry.ConnectionState, time.Time, int64) {
		t.Helper()
		dev, err := rc.GetDevice(ctx, "d1")
		require.NoError(t, err)
		st, err := rc.ServiceStatistics(ctx)
		require.NoError(t, err)
		return dev.ConnectionState, dev.ConnectionStateUpdatedTime, st.ConnectedDeviceCount
	}
	cs, _, n := state()
	assert.Equal(t, registry.Disconnected, cs)
	assert.Zero(t, n)

	m, err := e.Module("d1", "m1")
	require.NoError(t, err)
	require.NoError(t, m.Connect(ctx))
	cs, _, n = state()
	assert.Equal(t, registry.Disconnected, cs, "a module's connection is not the device's")
	assert.Zero(t, n, "and does not count as a connected device")
	mod, err := rc.GetModule(ctx, "d1", "m1")
	require.NoError(t, err)
	assert.Equal(t, registry.Connected, mod.ConnectionState)

	d, err := e.Device("d1")
	require.NoError(t, err)
	require.NoError(t, d.Connect(ctx))
	cs, connectedAt, n := state()
	assert.Equal(t, registry.Connected, cs)
	assert.WithinDuration(t, time.Now(), connectedAt, time.Minute)
	assert.EqualValues(t, 1, n)
	dev, err := rc.GetDevice(ctx, "d1")
	require.NoError(t, err)
	assert.False(t, dev.LastActivityTime.Before(connectedAt))

	d.Disconnect()
	cs, disconnectedAt, n := state()
	assert.Equal(t, registry.Disconnected, cs)
	assert.False(t, disconnectedAt.Before(connectedAt))
	assert.Zero(t, n)
	m.Disconnect()
}

func BenchmarkInvoke(b *testing.B) {
	e, c := newHub(b, emulator.DeviceSeed{DeviceID: "d1"})
	echoDevice(b, e, "d1", "")
	req := &methods.Request{MethodName: "echo", Payload: json.RawMessage(`{"speed":3}`)}
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		resp, err := c.Invoke(ctx, "d1", req)
		if err != nil || resp.Status != 200 {
			b.Fatal(resp, err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}
