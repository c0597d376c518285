package emulator_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

// TestBodiesOfTheWrongShape sends every REST operation that takes a body a
// null, an array or a scalar where it wants an object (and the other way
// round for bulk), and fields of the wrong type: each is a 400004
// ArgumentInvalid, and nothing changes.
func TestBodiesOfTheWrongShape(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}, Tags: map[string]any{"keep": "me"}}}})
	objectOps := []struct{ method, path string }{
		{http.MethodPut, "/devices/d2"},
		{http.MethodPut, "/devices/d1/modules/m2"},
		{http.MethodPatch, "/twins/d1"},
		{http.MethodPut, "/twins/d1"},
		{http.MethodPatch, "/twins/d1/modules/m1"},
		{http.MethodPut, "/twins/d1/modules/m1"},
		{http.MethodPost, "/twins/d1/methods"},
		{http.MethodPost, "/devices/query"},
	}
	for _, op := range objectOps {
		for _, body := range []string{"null", " null ", "[]", `[{"deviceId":"d2"}]`, `"text"`, "5", "true"} {
			r := h.do(op.method, op.path, body)
			requireHubError(t, r, iothub.CodeArgumentInvalid)
			assert.Contains(t, string(r.Body), "JSON object", "%s %s %s: the message says what is wanted", op.method, op.path, body)
			assert.NotContains(t, string(r.Body), "map[string]", "no Go type names")
		}
	}
	for _, body := range []string{"null", "{}", `{"id":"d2"}`, `"text"`, "5"} {
		requireHubError(t, h.do(http.MethodPost, "/devices", body), iothub.CodeArgumentInvalid)
	}
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPut, "/devices/d2", `{"deviceId":5}`},
		{http.MethodPut, "/devices/d2", `{"deviceId":"d2","status":5}`},
		{http.MethodPut, "/devices/d2", `{"deviceId":"d2","authentication":[]}`},
		{http.MethodPut, "/devices/d2", `{"deviceId":"d2","capabilities":"edge"}`},
		{http.MethodPatch, "/twins/d1", `{"tags":5}`},
		{http.MethodPatch, "/twins/d1", `{"tags":[]}`},
		{http.MethodPatch, "/twins/d1", `{"properties":5}`},
		{http.MethodPatch, "/twins/d1", `{"properties":{"desired":[1]}}`},
		{http.MethodPut, "/twins/d1", `{"properties":{"desired":"x"}}`},
		{http.MethodPost, "/twins/d1/methods", `{"methodName":5}`},
		{http.MethodPost, "/twins/d1/methods", `{"methodName":"m","responseTimeoutInSeconds":"x"}`},
		{http.MethodPost, "/devices/query", `{"query":5}`},
		{http.MethodPost, "/devices", `[5]`},
		{http.MethodPost, "/devices", `[{"id":5,"importMode":"create"}]`},
	} {
		r := h.do(tc.method, tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, r.Status, "%s %s %s: %s", tc.method, tc.path, tc.body, r.Body)
	}
	// Nothing changed: d2 does not exist and d1's twin kept its tags.
	assert.Equal(t, http.StatusNotFound, h.do(http.MethodGet, "/devices/d2", "").Status)
	tw := h.do(http.MethodGet, "/twins/d1", "").object(t)
	assert.Equal(t, map[string]any{"keep": "me"}, tw["tags"])
}
