package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
)

const testSecret = "SharedAccessSignature sr=hub&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D&se=9999999999&skn=iothubowner"

type staticCredential struct{ calls atomic.Int32 }

func (c *staticCredential) Token(context.Context, string) (auth.AccessToken, error) {
	c.calls.Add(1)
	return auth.AccessToken{Value: auth.NewSecret(testSecret), Type: auth.TokenTypeSAS, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// newTestPipeline serves h on an httptest server and returns a pipeline to it
// with quick retries.
func newTestPipeline(t *testing.T, h http.Handler, opts *iothub.ClientOptions) *Pipeline {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if opts == nil {
		opts = &iothub.ClientOptions{}
	}
	if opts.Retry.RetryDelay == 0 {
		opts.Retry.RetryDelay = time.Millisecond
	}
	p, err := New(Config{
		HostName:   strings.TrimPrefix(srv.URL, "http://"),
		Credential: &staticCredential{},
		PlainHTTP:  true,
		Options:    opts,
	})
	require.NoError(t, err)
	return p
}

func hubErrorHandler(status int, code iothub.ErrorCode, hits *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set(HeaderErrorCode, code.String())
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"Message":"ErrorCode:%s;boom","ExceptionMessage":"Tracking ID:abc-G:0-TimeStamp:now"}`, code)
	}
}

func TestDoAttemptsPerStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   int
		code     iothub.ErrorCode
		mode     RetryMode
		attempts int32
	}{
		{429, iothub.CodeThrottlingException, RetryIdempotent, 4},
		{408, iothub.CodeRequestTimeout, RetryIdempotent, 4},
		{500, iothub.CodeServerError, RetryIdempotent, 4},
		{502, 0, RetryIdempotent, 4},
		{503, iothub.CodeServiceUnavailable, RetryIdempotent, 4},
		{504, 0, RetryIdempotent, 4},
		{400, iothub.CodeArgumentInvalid, RetryIdempotent, 1},
		{401, iothub.CodeIotHubUnauthorizedAccess, RetryIdempotent, 1},
		{404, iothub.CodeDeviceNotFound, RetryIdempotent, 1},
		{409, iothub.CodeDeviceAlreadyExists, RetryIdempotent, 1},
		{412, iothub.CodePreconditionFailed, RetryIdempotent, 1},
		{503, iothub.CodeServiceUnavailable, RetryNever, 1},
		{429, iothub.CodeThrottlingException, RetryNever, 1},
		{503, iothub.CodeServiceUnavailable, RetryUnsent, 1},
		{504, iothub.CodeGatewayTimeout, RetryUnsent, 1},
		{429, iothub.CodeThrottlingException, RetryUnsent, 4},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d-%d-mode%d", tc.status, tc.code, tc.mode), func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			p := newTestPipeline(t, hubErrorHandler(tc.status, tc.code, &hits), nil)
			_, err := p.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/devices/x", Retry: tc.mode}, nil)
			var he *iothub.Error
			require.ErrorAs(t, err, &he)
			assert.Equal(t, tc.status, he.StatusCode)
			assert.Equal(t, tc.code, he.Code)
			assert.Equal(t, "abc", he.TrackingID)
			assert.Equal(t, tc.attempts, hits.Load())
		})
	}
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	p := newTestPipeline(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"deviceId":"d1"}`)
	}), nil)
	var out struct {
		DeviceID string `json:"deviceId"`
	}
	resp, err := p.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/devices/d1", Retry: RetryIdempotent}, &out)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "d1", out.DeviceID)
	assert.Equal(t, int32(3), hits.Load())
}

func TestDoHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []time.Time
	p := newTestPipeline(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, time.Now())
		n := len(seen)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}), nil)
	_, err := p.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/statistics/devices", Retry: RetryIdempotent}, nil)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	// The retry delay is 1 ms; only the hub's Retry-After explains a wait of
	// a second or more.
	assert.GreaterOrEqual(t, seen[1].Sub(seen[0]), time.Second)
}

func TestDoCancelDuringBackoffReturnsAtOnce(t *testing.T) {
	t.Parallel()
	first := make(chan struct{})
	var once sync.Once
	p := newTestPipeline(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "50")
		w.WriteHeader(http.StatusServiceUnavailable)
		once.Do(func() { close(first) })
	}), &iothub.ClientOptions{Retry: iothub.RetryOptions{RetryDelay: 30 * time.Second, MaxRetryDelay: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Do(ctx, &Request{Method: http.MethodGet, Path: "/devices", Retry: RetryIdempotent}, nil)
		done <- err
	}()
	<-first
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return after its context was cancelled during a 30 s backoff")
	}
}

func TestDoRetryUnsentRepeatsDialFailures(t *testing.T) {
	t.Parallel()
	// A port with nothing listening: every dial fails.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := New(Config{HostName: addr, Credential: &staticCredential{}, PlainHTTP: true,
		Options: &iothub.ClientOptions{Logger: logger, Retry: iothub.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond}}})
	require.NoError(t, err)
	_, err = p.Do(context.Background(), &Request{Method: http.MethodPost, Path: "/twins/d/methods", Retry: RetryUnsent}, nil)
	require.Error(t, err)
	assert.True(t, iothub.IsRetriable(err), "a refused connection is a network error: %v", err)
	assert.Equal(t, 3, strings.Count(buf.String(), "request failed"))
}

func TestDoSendsHeaders(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var gotBody string
	p := newTestPipeline(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		b := new(bytes.Buffer)
		_, _ = b.ReadFrom(r.Body)
		gotBody = b.String()
		w.WriteHeader(http.StatusOK)
	}), &iothub.ClientOptions{UserAgent: "myapp/1.0"})
	_, err := p.Do(context.Background(), &Request{
		Method:  http.MethodPut,
		Path:    "/devices/" + PathEscape("a#b?c"),
		Body:    map[string]string{"deviceId": "a#b?c"},
		IfMatch: IfMatch("MTIz"),
		Retry:   RetryIdempotent,
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, "/devices/a%23b%3Fc", got.URL.EscapedPath())
	assert.Equal(t, iothub.DefaultAPIVersion, got.URL.Query().Get("api-version"))
	assert.Equal(t, testSecret, got.Header.Get("Authorization"))
	assert.Equal(t, `"MTIz"`, got.Header.Get("If-Match"))
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, got.Header.Get("Request-Id"))
	assert.True(t, strings.HasPrefix(got.Header.Get("User-Agent"), "myapp/1.0 iothub-go/"))
	assert.Contains(t, got.Header.Get("Content-Type"), "application/json")
	assert.JSONEq(t, `{"deviceId":"a#b?c"}`, gotBody)
}

func TestDoAPIVersionOption(t *testing.T) {
	t.Parallel()
	var version atomic.Value
	p := newTestPipeline(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version.Store(r.URL.Query().Get("api-version"))
	}), &iothub.ClientOptions{APIVersion: "2020-09-30"})
	_, err := p.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/devices"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "2020-09-30", version.Load())
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestLogsHoldNoSecret(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&syncWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var hits atomic.Int32
	p := newTestPipeline(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		hubErrorHandler(http.StatusUnauthorized, iothub.CodeIotHubUnauthorizedAccess, &hits)(w, r)
	}), &iothub.ClientOptions{Logger: logger})
	_, err := p.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/devices/d", Retry: RetryIdempotent}, nil)
	require.ErrorIs(t, err, iothub.ErrUnauthorized)
	out := buf.String()
	require.NotEmpty(t, out)
	assert.Contains(t, out, "retrying")
	for _, secret := range []string{"SharedAccessSignature", "c2VjcmV0LXNpZ25hdHVyZQ", "sig=", "Authorization"} {
		assert.NotContains(t, out, secret)
		assert.NotContains(t, err.Error(), secret)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Credential: &staticCredential{}})
	require.Error(t, err)
	_, err = New(Config{HostName: "https://hub.azure-devices.net", Credential: &staticCredential{}})
	require.Error(t, err)
	_, err = New(Config{HostName: "hub.azure-devices.net"})
	require.Error(t, err)
	p, err := New(Config{HostName: "hub.azure-devices.net", Credential: &staticCredential{}})
	require.NoError(t, err)
	assert.Equal(t, "hub.azure-devices.net", p.HostName())
}

func TestCredentialErrorIsReturned(t *testing.T) {
	t.Parallel()
	boom := errors.New("no token for you")
	p, err := New(Config{HostName: "127.0.0.1:1", PlainHTTP: true, Credential: failingCredential{boom}})
	require.NoError(t, err)
	_, err = p.Do(context.Background(), &Request{Method: http.MethodGet, Path: "/devices", Retry: RetryIdempotent}, nil)
	require.ErrorIs(t, err, boom)
}

type failingCredential struct{ err error }

func (f failingCredential) Token(context.Context, string) (auth.AccessToken, error) {
	return auth.AccessToken{}, f.err
}
