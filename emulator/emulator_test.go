package emulator_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	assert.Equal(t, "emulator", h.e.HubName())
	assert.True(t, strings.HasPrefix(h.e.HostName(), "127.0.0.1:"))
	assert.Equal(t, "http://"+h.e.HostName(), h.e.URL())

	// Tokens for <hub>.azure-devices.net are accepted, as from a real hub's
	// connection string.
	owner := h.e.Policies()[0]
	tok, err := auth.SignSAS("emulator.azure-devices.net", owner.Name, owner.PrimaryKey, time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, h.raw(http.MethodGet, "/statistics/devices?"+apiVersion, "", "Authorization", tok).Status)
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	_, err := emulator.Start(context.Background(), &emulator.Options{Addr: "256.0.0.1:0"})
	assert.Error(t, err)
	_, err = emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "bad id"}}})
	assert.Error(t, err)
	_, err = emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d", Tags: map[string]any{"a.b": 1}}}})
	assert.Error(t, err)
	_, err = emulator.Start(context.Background(), &emulator.Options{Policies: []emulator.Policy{{Rights: emulator.AllRights}}})
	assert.Error(t, err, "a policy needs a name")
}

func TestSeedKeys(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", PrimaryKey: key1}}})
	sk := h.do(http.MethodGet, "/devices/d1", "").object(t)["authentication"].(map[string]any)["symmetricKey"].(map[string]any)
	assert.Equal(t, key1, sk["primaryKey"])
	assert.NotEmpty(t, sk["secondaryKey"])
}

func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	require.NoError(t, err)
	h := &hub{t: t, e: e}
	e.InjectFault(emulator.Fault{Count: 1, Latency: time.Minute})
	tok := h.token("iothubowner")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		req, _ := http.NewRequest(http.MethodGet, e.URL()+"/devices/d1?"+apiVersion, nil)
		req.Header.Set("Authorization", tok)
		if resp, err := e.Client().Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return e.RequestCount("", "") == 1 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, e.Shutdown(ctx), context.DeadlineExceeded)
	wg.Wait() // the stuck request's connection was closed
}

// syncBuffer is a bytes.Buffer safe for the handler's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := start(t, &emulator.Options{Logger: logger})
	tok := h.token("iothubowner")
	h.raw(http.MethodGet, "/devices/d1?"+apiVersion, "", "Authorization", tok)
	h.raw(http.MethodGet, "/devices/d1?"+apiVersion, "", "Authorization", tok+"x")
	r := h.do(http.MethodPut, "/devices/d1", `{}`)
	require.Equal(t, http.StatusOK, r.Status)
	h.e.Close()

	out := logs.String()
	assert.Contains(t, out, "path=/devices/d1")
	assert.Contains(t, out, "status=404")
	sas, err := auth.ParseSAS(tok)
	require.NoError(t, err)
	for _, p := range h.e.Policies() {
		assert.NotContains(t, out, p.PrimaryKey)
		assert.NotContains(t, out, p.SecondaryKey)
	}
	assert.NotContains(t, out, sas.Signature)
	key := r.object(t)["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"].(string)
	assert.NotContains(t, out, key)
}

func TestListenOnAllInterfaces(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Addr: "0.0.0.0:0", TLS: true})
	assert.True(t, strings.HasPrefix(h.e.HostName(), "127.0.0.1:"), h.e.HostName())
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/statistics/devices", "").Status)
}
