package emulator_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

func TestFaultThrottlesThenSucceeds(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	h.e.InjectFault(emulator.Fault{Method: "GET", Path: "/devices/*", Count: 3, Code: iothub.CodeThrottlingException, RetryAfter: time.Second})

	// Other paths and methods are not affected.
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/twins/d1", "").Status)
	assert.Equal(t, http.StatusOK, h.do(http.MethodPut, "/devices/d2", `{}`).Status)

	for i := range 3 {
		r := h.do(http.MethodGet, "/devices/d1", "")
		requireHubError(t, r, iothub.CodeThrottlingException)
		assert.Equal(t, "1", r.Header.Get("Retry-After"), "attempt %d", i)
	}
	require.Equal(t, http.StatusOK, h.do(http.MethodGet, "/devices/d1", "").Status)
	assert.Equal(t, 4, h.e.RequestCount("GET", "/devices/*"))
	assert.Equal(t, 4, h.e.RequestCount("get", "/devices/d1"))
	assert.Equal(t, 1, h.e.RequestCount("PUT", ""))
	assert.Equal(t, 6, h.e.RequestCount("", ""))

	var statuses []int
	for _, r := range h.e.Requests() {
		if r.Path == "/devices/d1" {
			statuses = append(statuses, r.Status)
			assert.Contains(t, r.Query, "api-version=")
		}
	}
	assert.Equal(t, []int{429, 429, 429, 200}, statuses)
}

func TestFaultStatusAndPatterns(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
	h.e.InjectFault(emulator.Fault{Path: "/twins/**", Code: iothub.CodeServiceUnavailable})
	requireHubError(t, h.do(http.MethodGet, "/twins/d1", ""), iothub.CodeServiceUnavailable)
	requireHubError(t, h.do(http.MethodPatch, "/twins/d1/modules/m1", `{}`), iothub.CodeServiceUnavailable)
	assert.Empty(t, h.do(http.MethodGet, "/twins/d1", "").Header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/devices/d1", "").Status)

	h.e.ClearFaults()
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/twins/d1", "").Status)

	// An explicit status wins over the code's.
	h.e.InjectFault(emulator.Fault{Method: "DELETE", Count: 1, Status: http.StatusInternalServerError, Code: iothub.CodeServerError, Message: "boom"})
	r := h.do(http.MethodDelete, "/devices/d1", "")
	require.Equal(t, http.StatusInternalServerError, r.Status)
	assert.Contains(t, string(r.Body), "boom")
	assert.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/devices/d1", "").Status)
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	const delay = 200 * time.Millisecond
	h.e.InjectFault(emulator.Fault{Path: "/devices/d1", Count: 1, Latency: delay})
	began := time.Now()
	r := h.do(http.MethodGet, "/devices/d1", "")
	assert.GreaterOrEqual(t, time.Since(began), delay)
	assert.Equal(t, http.StatusOK, r.Status, "a latency-only fault still serves the request")

	// A client that gives up before the delay ends gets no answer.
	h.e.InjectFault(emulator.Fault{Path: "/devices/d1", Count: 1, Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.e.URL()+"/devices/d1?"+apiVersion, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", h.token("iothubowner"))
	_, err = h.e.Client().Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestCloseWaitsForRequestsInFlight(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	require.NoError(t, err)
	h := &hub{t: t, e: e}
	e.InjectFault(emulator.Fault{Count: 1, Latency: 300 * time.Millisecond})
	tok := h.token("iothubowner")
	var (
		wg     sync.WaitGroup
		status int
		reqErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		req, _ := http.NewRequest(http.MethodGet, e.URL()+"/devices/d1?"+apiVersion, nil)
		req.Header.Set("Authorization", tok)
		resp, err := e.Client().Do(req)
		if err != nil {
			reqErr = err
			return
		}
		resp.Body.Close()
		status = resp.StatusCode
	}()
	require.Eventually(t, func() bool { return e.RequestCount("", "") == 1 }, 5*time.Second, 5*time.Millisecond)
	e.Close()
	wg.Wait()
	require.NoError(t, reqErr)
	assert.Equal(t, http.StatusOK, status)
	e.Close() // idempotent

	_, err = http.Get(e.URL() + "/devices/d1")
	assert.Error(t, err, "the port is closed")
}
