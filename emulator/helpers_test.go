package emulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
)

const apiVersion = "api-version=2021-04-12"

// hub is an emulator under test with helpers for raw REST calls.
type hub struct {
	t *testing.T
	e *emulator.Emulator
}

func start(t *testing.T, opts *emulator.Options) *hub {
	t.Helper()
	e, err := emulator.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return &hub{t: t, e: e}
}

// token signs a SAS for the named policy, valid for an hour.
func (h *hub) token(policy string) string {
	h.t.Helper()
	for _, p := range h.e.Policies() {
		if p.Name == policy {
			tok, err := auth.SignSAS(h.e.HostName(), p.Name, p.PrimaryKey, time.Now().Add(time.Hour))
			require.NoError(h.t, err)
			return tok
		}
	}
	h.t.Fatalf("no policy %q", policy)
	return ""
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// object decodes the body as a JSON object.
func (r reply) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// array decodes the body as a JSON array of objects.
func (r reply) array(t *testing.T) []map[string]any {
	t.Helper()
	var a []map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &a), "body: %s", r.Body)
	return a
}

// do calls the emulator as iothubowner, adding the api-version.
func (h *hub) do(method, path, body string, headers ...string) reply {
	h.t.Helper()
	return h.doAs("iothubowner", method, path, body, headers...)
}

// doAs calls the emulator with a token of policy, adding the api-version.
func (h *hub) doAs(policy, method, path, body string, headers ...string) reply {
	h.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	hs := append([]string{"Authorization", h.token(policy)}, headers...)
	return h.raw(method, path+sep+apiVersion, body, hs...)
}

// raw calls the emulator with exactly the given path, query and headers
// (name, value pairs).
func (h *hub) raw(method, pathAndQuery, body string, headers ...string) reply {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.e.URL()+pathAndQuery, rd)
	require.NoError(h.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.e.Client().Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// requireHubError checks an error answer: status, iothub-errorcode header,
// content type and the code in the body (either of the hub's two shapes).
func requireHubError(t *testing.T, r reply, code iothub.ErrorCode) {
	t.Helper()
	require.Equal(t, code.StatusCode(), r.Status, "body: %s", r.Body)
	require.Equal(t, code.String(), r.Header.Get("iothub-errorcode"), "body: %s", r.Body)
	require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
	var body struct {
		Message          string
		ExceptionMessage string
	}
	require.NoError(t, json.Unmarshal(r.Body, &body), "body: %s", r.Body)
	if strings.HasPrefix(body.Message, "{") {
		var inner struct {
			ErrorCode    int    `json:"errorCode"`
			TrackingID   string `json:"trackingId"`
			Message      string `json:"message"`
			TimestampUTC string `json:"timestampUtc"`
		}
		require.NoError(t, json.Unmarshal([]byte(body.Message), &inner), "message: %s", body.Message)
		require.Equal(t, int(code), inner.ErrorCode)
		require.Len(t, inner.TrackingID, 32)
		require.NotEmpty(t, inner.Message)
		return
	}
	require.True(t, strings.HasPrefix(body.Message, "ErrorCode:"+code.String()+";"), "message: %s", body.Message)
	require.Regexp(t, `^Tracking ID:[0-9a-f]{32}-G:0-TimeStamp:\d\d/\d\d/\d{4} \d\d:\d\d:\d\d$`, body.ExceptionMessage)
}

// requireKeys checks that a JSON object has exactly the given keys.
func requireKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	require.ElementsMatch(t, keys, got)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func ptr[T any](v T) *T { return &v }
