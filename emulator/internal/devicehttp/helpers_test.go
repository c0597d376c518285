package devicehttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
)

// testKey is the symmetric key of the tests' device d1.
const testKey = "ZGV2aWNlLWtleS1kZXZpY2Uta2V5LWRldmljZS1rZXk="

// testServer runs the device API over an in-memory hub core with device
// d1 until the test ends.
type testServer struct {
	t   *testing.T
	hub *core.Hub
	srv *httptest.Server
}

func newTestServer(t *testing.T, opts *Options) *testServer {
	t.Helper()
	hub, err := core.Open(&core.Options{Devices: []core.Seed{{DeviceID: "d1", PrimaryKey: testKey}}})
	require.NoError(t, err)
	require.NoError(t, hub.OpenMessaging(eventhubs.Options{}))
	srv := httptest.NewServer(New(hub, opts))
	hub.SetHostName(strings.TrimPrefix(srv.URL, "http://"), false)
	t.Cleanup(func() {
		srv.Close()
		hub.Stop(errors.New("the test ended"))
		_ = hub.Close()
	})
	return &testServer{t: t, hub: hub, srv: srv}
}

// do sends a request as device d1 and returns the status and body.
func (s *testServer) do(method, path, body string) (int, http.Header, string) {
	s.t.Helper()
	tok, err := auth.SignSAS(strings.TrimPrefix(s.srv.URL, "http://")+"/devices/d1", "", testKey, time.Now().Add(time.Hour))
	require.NoError(s.t, err)
	req, err := http.NewRequestWithContext(context.Background(), method, s.srv.URL+path, strings.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.srv.Client().Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, resp.Header, string(b)
}
