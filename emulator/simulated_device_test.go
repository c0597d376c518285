package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

// TestSimulatedDeviceConcurrency races connections of one identity, handler
// changes, calls and desired updates, under -race; it must neither deadlock
// nor leave the connection state wrong.
func TestSimulatedDeviceConcurrency(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	ctx := context.Background()
	a, err := h.e.Device("d1")
	require.NoError(t, err)
	b, err := h.e.Device("d1")
	require.NoError(t, err)
	for _, d := range []*emulator.SimulatedDevice{a, b} {
		d.HandleMethod("echo", func(_ context.Context, p json.RawMessage) (int, any) { return 200, p })
		d.OnDesiredProperties(func(map[string]any, int64) {})
	}
	var wg sync.WaitGroup
	for _, d := range []*emulator.SimulatedDevice{a, b} {
		wg.Go(func() {
			for range 50 {
				_ = d.Connect(ctx) // may lose to the other connection
				d.HandleMethod("other", func(context.Context, json.RawMessage) (int, any) { return 200, nil })
				d.HandleMethod("other", nil)
				_, _ = d.ReportProperties(ctx, map[string]any{"n": 1})
				d.Disconnect()
			}
		})
	}
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				r := h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"echo","payload":1}`)
				if r.Status != http.StatusOK && r.Status != http.StatusNotFound {
					t.Errorf("call: %d %s", r.Status, r.Body)
				}
				h.do(http.MethodPatch, "/twins/d1", fmt.Sprintf(`{"properties":{"desired":{"w%d":%d}}}`, i, j))
			}
		})
	}
	wg.Wait()
	a.Disconnect()
	b.Disconnect()
	assert.Equal(t, "Disconnected", connectionState(t, h, "/devices/d1"))
	assert.JSONEq(t, `{"connectedDeviceCount":0}`, connectedDevices(t, h))
	require.NoError(t, a.Connect(ctx))
	assert.Equal(t, "Connected", connectionState(t, h, "/devices/d1"))
	assert.JSONEq(t, `{"connectedDeviceCount":1}`, connectedDevices(t, h))
}

// TestSimulatedDeviceNoGoroutineLeak runs alone (not parallel) so that it
// can count goroutines.
func TestSimulatedDeviceNoGoroutineLeak(t *testing.T) {
	before := userGoroutines()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}, {DeviceID: "d2"}}})
	require.NoError(t, err)
	h := &hub{t: t, e: e}
	ctx := context.Background()
	d1, err := e.Device("d1")
	require.NoError(t, err)
	got := make(chan int64, 10)
	d1.OnDesiredProperties(func(_ map[string]any, v int64) { got <- v })
	entered := make(chan struct{}, 1)
	d1.HandleMethod("hang", func(ctx context.Context, _ json.RawMessage) (int, any) {
		entered <- struct{}{}
		<-ctx.Done()
		return 200, nil
	})
	d1.HandleMethod("echo", func(_ context.Context, p json.RawMessage) (int, any) { return 200, p })
	require.NoError(t, d1.Connect(ctx))
	d2, err := e.Device("d2")
	require.NoError(t, err)
	require.NoError(t, d2.Connect(ctx))

	for range 3 {
		h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"echo"}`)
		h.do(http.MethodPatch, "/twins/d1", `{"properties":{"desired":{"x":1}}}`)
		<-got
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.do(http.MethodPost, "/twins/d1/methods", `{"methodName":"hang"}`)
	}()
	<-entered
	d1.Disconnect() // ends the hanging call
	<-done
	h.do(http.MethodPut, "/devices/d2", `{"status":"disabled"}`, "If-Match", "*") // kicks d2
	e.Close()

	// Goroutines end asynchronously after Close (client connections see
	// the server's close, say): poll, in this goroutine, since
	// require.Eventually would add one of its own.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for userGoroutines() > before {
		select {
		case <-tick.C:
		case <-deadline:
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after:\n%s", before, userGoroutines(), buf[:runtime.Stack(buf, true)])
		}
	}
}

// userGoroutines counts the goroutines runtime.Stack lists: those of the
// program, not the runtime's own (which start lazily and stay).
func userGoroutines() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "\ngoroutine ") + 1
}
