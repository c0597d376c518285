package emulator_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
)

// httpDevice sends a device API request with a token (empty: none) and
// headers given as name, value pairs, set exactly as spelt (an official
// SDK's lower-case names reach the wire as they are).
func httpDevice(t *testing.T, e *emulator.Emulator, method, pathAndQuery, token string, body []byte, headers ...string) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.URL()+pathAndQuery, bytes.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = []string{headers[i+1]}
	}
	resp, err := e.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func eventByBody(t *testing.T, evs []*eventhub.Event, body string) *eventhub.Event {
	t.Helper()
	for _, ev := range evs {
		if string(ev.Body) == body {
			return ev
		}
	}
	t.Fatalf("no event with body %q", body)
	return nil
}

func TestHTTPTelemetry(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Modules: []string{"m1"}})
	tok := deviceToken(t, e, "d1", deviceKey, time.Hour)
	r := httpDevice(t, e, http.MethodPost, "/devices/d1/messages/events?"+apiVersion, tok, []byte(`{"t":21.5}`),
		"iothub-to", "/devices/d1/messages/events",
		"IoTHub-MessageId", "msg-1", "IoTHub-CorrelationId", "corr-1", "IoTHub-UserId", "user-1",
		"iothub-contenttype", "application/json", "iothub-contentencoding", "utf-8",
		"iothub-creationtimeutc", "2026-01-02T03:04:05Z",
		"iothub-app-unit", "celsius", "iothub-app-a+b", "x&y", "iothub-app-alertType", "hot", "Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)
	assert.Empty(t, r.Body)

	mtok := deviceToken(t, e, "d1/modules/m1", moduleKey(t, e, "d1", "m1"), time.Hour)
	r = httpDevice(t, e, http.MethodPost, "/devices/d1/modules/m1/messages/events?"+apiVersion, mtok, []byte("from the module"))
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)

	evs := readEvents(t, e, 2)
	first := eventByBody(t, evs, `{"t":21.5}`)
	assert.Equal(t, "d1", first.DeviceID)
	assert.Empty(t, first.ModuleID)
	assert.Equal(t, "msg-1", first.MessageID)
	assert.Equal(t, "corr-1", first.CorrelationID)
	assert.Equal(t, "application/json", first.ContentType, "iothub-contenttype, not Content-Type")
	assert.Equal(t, "utf-8", first.ContentEncoding)
	assert.Equal(t, map[string]any{"unit": "celsius", "a+b": "x&y", "alertType": "hot", "iothub-creation-time-utc": "2026-01-02T03:04:05Z"}, first.Properties,
		"property names keep the case the client sent")
	assert.Equal(t, "m1", eventByBody(t, evs, "from the module").ModuleID)
}

func TestHTTPTelemetryBatch(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	tok := deviceToken(t, e, "d1", deviceKey, time.Hour)
	batch := `[
		{"body":"` + base64.StdEncoding.EncodeToString([]byte("one")) + `","properties":{"iothub-app-k":"v","iothub-messageid":"b-1","iothub-contenttype":"text/plain","dt-subject":"c"}},
		{"body":"two","base64Encoded":false,"properties":{"iothub-correlationid":"c-2","iothub-app-n":42,"iothub-app-nothing":null}},
		{"body":"` + base64.StdEncoding.EncodeToString([]byte("three")) + `","base64Encoded":true}
	]`
	r := httpDevice(t, e, http.MethodPost, "/devices/d1/messages/events?"+apiVersion, tok, []byte(batch), "Content-Type", "application/vnd.microsoft.iothub.json")
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)
	evs := readEvents(t, e, 3)
	one := eventByBody(t, evs, "one")
	assert.Equal(t, "b-1", one.MessageID)
	assert.Equal(t, "text/plain", one.ContentType)
	assert.Equal(t, map[string]any{"k": "v"}, one.Properties)
	two := eventByBody(t, evs, "two")
	assert.Equal(t, "c-2", two.CorrelationID)
	assert.Equal(t, map[string]any{"n": "42"}, two.Properties)
	assert.Empty(t, eventByBody(t, evs, "three").Properties)

	for name, body := range map[string]string{
		"not JSON":       `[{"body":`,
		"not an array":   `{"body":"eA=="}`,
		"empty":          `[]`,
		"no body":        `[{"properties":{}}]`,
		"bad base64":     `[{"body":"***"}]`,
		"object value":   `[{"body":"eA==","properties":{"iothub-app-k":{"x":1}}}]`,
		"trailing bytes": `[{"body":"eA=="}] []`,
	} {
		r := httpDevice(t, e, http.MethodPost, "/devices/d1/messages/events?"+apiVersion, tok, []byte(body), "Content-Type", "application/vnd.microsoft.iothub.json; charset=utf-8")
		requireHubError(t, r, iothub.CodeArgumentInvalid)
		assert.NotEmpty(t, name)
	}
}

func TestHTTPTelemetryTooLarge(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	tok := deviceToken(t, e, "d1", deviceKey, time.Hour)
	path := "/devices/d1/messages/events?" + apiVersion
	r := httpDevice(t, e, http.MethodPost, path, tok, bytes.Repeat([]byte("x"), 256*1024))
	require.Equal(t, http.StatusNoContent, r.Status, "256 KB is allowed: %s", r.Body)
	r = httpDevice(t, e, http.MethodPost, path, tok, bytes.Repeat([]byte("x"), 256*1024+1))
	requireHubError(t, r, iothub.CodeMessageTooLarge)
	big := `[{"body":"` + strings.Repeat("A", 256*1024) + `"}]`
	r = httpDevice(t, e, http.MethodPost, path, tok, []byte(big), "Content-Type", "application/vnd.microsoft.iothub.json")
	requireHubError(t, r, iothub.CodeMessageTooLarge)
}

// c2dService returns a C2D service client of e, closed when the test
// ends, and a context that bounds the test's sends.
func c2dService(t *testing.T, e *emulator.Emulator) (*c2d.Client, context.Context) {
	t.Helper()
	cc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return cc, ctx
}

// feedbackRecords waits for n feedback records.
func feedbackRecords(t *testing.T, cc *c2d.Client, n int) []c2d.FeedbackRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []c2d.FeedbackRecord
	_ = cc.ReceiveFeedback(ctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		out = append(out, b.Records...)
		if len(out) >= n {
			cancel()
		}
		return nil
	})
	require.Len(t, out, n)
	return out
}

func TestHTTPC2D(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	tok := deviceToken(t, e, "d1", deviceKey, time.Hour)
	bound := "/devices/d1/messages/deviceBound"
	r := httpDevice(t, e, http.MethodGet, bound+"?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "an empty queue: %s", r.Body)

	cc, ctx := c2dService(t, e)
	for _, id := range []string{"c-1", "c-2", "c-3"} {
		require.NoError(t, cc.Send(ctx, "d1", &c2d.Message{Body: []byte("on " + id), MessageID: id, CorrelationID: "k-" + id, UserID: "u",
			ContentType: "text/plain", ContentEncoding: "utf-8", Ack: c2d.AckFull, Properties: map[string]string{"color": "red"}}))
	}

	// The Node SDK's path spelling, lower-case.
	r = httpDevice(t, e, http.MethodGet, "/devices/d1/messages/devicebound?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	assert.Equal(t, "on c-1", string(r.Body))
	etag := r.Header.Get("ETag")
	require.Regexp(t, `^"[0-9a-f]+"$`, etag, "the lock token, quoted")
	assert.Equal(t, "c-1", r.Header.Get("iothub-messageid"))
	assert.Equal(t, "k-c-1", r.Header.Get("iothub-correlationid"))
	assert.Equal(t, "u", r.Header.Get("iothub-userid"))
	assert.Equal(t, "full", r.Header.Get("iothub-ack"))
	assert.Equal(t, "1", r.Header.Get("iothub-deliverycount"))
	assert.Equal(t, "/devices/d1/messages/devicebound", r.Header.Get("iothub-to"), "the to the service sent")
	assert.Equal(t, "red", r.Header.Get("iothub-app-color"))
	assert.Equal(t, "text/plain", r.Header.Get("ContentType"))
	assert.Equal(t, "utf-8", r.Header.Get("ContentEncoding"))
	for _, h := range []string{"iothub-enqueuedtime", "iothub-expiry"} {
		_, err := time.Parse(time.RFC3339Nano, r.Header.Get(h))
		assert.NoError(t, err, h)
	}
	// Complete, with the token bare as the SDKs send it.
	token := strings.Trim(etag, `"`)
	r = httpDevice(t, e, http.MethodDelete, bound+"/"+token+"?"+apiVersion, tok, nil, "If-Match", token)
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)
	r = httpDevice(t, e, http.MethodDelete, bound+"/"+token+"?"+apiVersion, tok, nil)
	requireHubError(t, r, iothub.CodeDeviceMessageLockLost)

	// Abandon: the message comes back, counted once more.
	r = httpDevice(t, e, http.MethodGet, bound+"?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "c-2", r.Header.Get("iothub-messageid"))
	r = httpDevice(t, e, http.MethodPost, bound+"/"+r.Header.Get("ETag")+"/abandon?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "a quoted token is taken too: %s", r.Body)
	r = httpDevice(t, e, http.MethodGet, bound+"?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "c-2", r.Header.Get("iothub-messageid"))
	assert.Equal(t, "2", r.Header.Get("iothub-deliverycount"))
	// Reject, the SDKs' bare "&reject".
	r = httpDevice(t, e, http.MethodDelete, bound+"/"+strings.Trim(r.Header.Get("ETag"), `"`)+"?"+apiVersion+"&reject", tok, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)
	// Reject, the documented reject=true.
	r = httpDevice(t, e, http.MethodGet, bound+"?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	r = httpDevice(t, e, http.MethodDelete, bound+"/"+strings.Trim(r.Header.Get("ETag"), `"`)+"?reject=true&"+apiVersion, tok, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)

	r = httpDevice(t, e, http.MethodPost, bound+"/00000000000000000000000000000000/abandon?"+apiVersion, tok, nil)
	requireHubError(t, r, iothub.CodeDeviceMessageLockLost)
	assert.Zero(t, e.C2DQueueDepth("d1", ""))

	recs := feedbackRecords(t, cc, 3)
	byID := map[string]c2d.FeedbackStatus{}
	for _, rec := range recs {
		byID[rec.OriginalMessageID] = rec.StatusCode
	}
	assert.Equal(t, map[string]c2d.FeedbackStatus{"c-1": c2d.StatusSuccess, "c-2": c2d.StatusRejected, "c-3": c2d.StatusRejected}, byID)
}

func TestHTTPModuleC2D(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Modules: []string{"m1"}})
	tok := deviceToken(t, e, "d1/modules/m1", moduleKey(t, e, "d1", "m1"), time.Hour)
	bound := "/devices/d1/modules/m1/messages/deviceBound"
	r := httpDevice(t, e, http.MethodGet, bound+"?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)

	cc, ctx := c2dService(t, e)
	require.NoError(t, cc.SendToModule(ctx, "d1", "m1", &c2d.Message{Body: []byte("to m1"), MessageID: "m-1"}))
	r = httpDevice(t, e, http.MethodGet, bound+"?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	assert.Equal(t, "to m1", string(r.Body))
	r = httpDevice(t, e, http.MethodDelete, bound+"/"+strings.Trim(r.Header.Get("ETag"), `"`)+"?"+apiVersion, tok, nil)
	require.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)
	assert.Zero(t, e.C2DQueueDepth("d1", "m1"))
}

func TestHTTPDeviceAuth(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"}, emulator.DeviceSeed{DeviceID: "off", Disabled: true})
	h := &hub{t: t, e: e}
	wrongKey := "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc="
	policyToken := func(name string) string {
		for _, p := range e.Policies() {
			if p.Name == name {
				tok, err := auth.SignSAS(e.HostName()+"/devices/d1", p.Name, p.PrimaryKey, time.Now().Add(time.Hour))
				require.NoError(t, err)
				return tok
			}
		}
		t.Fatalf("no policy %q", name)
		return ""
	}
	path := "/devices/d1/messages/deviceBound?" + apiVersion
	for name, tc := range map[string]struct {
		path, token string
		code        iothub.ErrorCode
	}{
		"no header":          {path, "", iothub.CodeIotHubUnauthorizedAccess},
		"not a SAS":          {path, "Bearer abc", iothub.CodeIotHubUnauthorizedAccess},
		"malformed SAS":      {path, "SharedAccessSignature sr=x", iothub.CodeIotHubUnauthorizedAccess},
		"wrong key":          {path, deviceToken(t, e, "d1", wrongKey, time.Hour), iothub.CodeIotHubUnauthorizedAccess},
		"expired":            {path, deviceToken(t, e, "d1", deviceKey, -time.Minute), iothub.CodeIotHubUnauthorizedAccess},
		"another device":     {path, deviceToken(t, e, "off", deviceKey, time.Hour), iothub.CodeIotHubUnauthorizedAccess},
		"service token":      {path, policyToken("service"), iothub.CodeIotHubUnauthorizedAccess},
		"registryRead token": {path, policyToken("registryRead"), iothub.CodeIotHubUnauthorizedAccess},
		"disabled device":    {"/devices/off/messages/deviceBound?" + apiVersion, deviceToken(t, e, "off", deviceKey, time.Hour), iothub.CodeDeviceNotFound},
		"unknown device":     {"/devices/ghost/messages/deviceBound?" + apiVersion, deviceToken(t, e, "ghost", deviceKey, time.Hour), iothub.CodeDeviceNotFound},
		"unknown module":     {"/devices/d1/modules/ghost/messages/deviceBound?" + apiVersion, deviceToken(t, e, "d1/modules/ghost", deviceKey, time.Hour), iothub.CodeModuleNotFound},
		"no api-version":     {"/devices/d1/messages/deviceBound", deviceToken(t, e, "d1", deviceKey, time.Hour), iothub.CodeInvalidProtocolVersion},
		"unknown api":        {"/devices/d1/messages/deviceBound?api-version=1999-01-01", deviceToken(t, e, "d1", deviceKey, time.Hour), iothub.CodeInvalidProtocolVersion},
	} {
		r := httpDevice(t, e, http.MethodGet, tc.path, tc.token, nil)
		requireHubError(t, r, tc.code)
		assert.NotContains(t, string(r.Body), "sig=", name)
	}
	// A policy with DeviceConnect signs for any device; the C SDK's old
	// api-version is taken.
	r := httpDevice(t, e, http.MethodGet, "/devices/d1/messages/deviceBound?api-version=2016-11-14", policyToken("device"), nil)
	assert.Equal(t, http.StatusNoContent, r.Status, "body: %s", r.Body)
	// A wrong method on a device path.
	r = httpDevice(t, e, http.MethodPut, "/devices/d1/messages/events?"+apiVersion, deviceToken(t, e, "d1", deviceKey, time.Hour), nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
	// The service REST API keeps its own paths.
	assert.Equal(t, http.StatusOK, h.do(http.MethodGet, "/devices/d1", "").Status)
	assert.Equal(t, http.StatusOK, h.do(http.MethodDelete, "/devices/d1/commands", "").Status)
	assert.Equal(t, http.StatusNotFound, h.do(http.MethodGet, "/devices/d1/modules/m9", "").Status)
}

func TestHTTPFilesWithoutStorage(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	tok := deviceToken(t, e, "d1", deviceKey, time.Hour)
	r := httpDevice(t, e, http.MethodPost, "/devices/d1/files?"+apiVersion, tok, []byte(`{"blobName":"a.txt"}`), "Content-Type", "application/json")
	requireHubError(t, r, iothub.CodeDefaultStorageEndpointNotConfigured)
	r = httpDevice(t, e, http.MethodPost, "/devices/d1/files?"+apiVersion, tok, []byte(`{}`), "Content-Type", "application/json")
	requireHubError(t, r, iothub.CodeArgumentInvalid)
	r = httpDevice(t, e, http.MethodPost, "/devices/d1/files/notifications/c-1?"+apiVersion, tok, []byte(`{"isSuccess":true,"statusCode":201,"statusDescription":"ok"}`), "Content-Type", "application/json")
	requireHubError(t, r, iothub.CodeDefaultStorageEndpointNotConfigured)
}
