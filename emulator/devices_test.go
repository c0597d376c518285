package emulator_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

var deviceKeys = []string{
	"deviceId", "generationId", "etag", "connectionState", "status", "statusReason",
	"connectionStateUpdatedTime", "statusUpdatedTime", "lastActivityTime",
	"cloudToDeviceMessageCount", "authentication", "capabilities", "parentScopes",
}

const (
	key1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	key2 = "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4="
	tp1  = "0123456789ABCDEF0123456789ABCDEF01234567"
	tp2  = "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"
)

func TestDeviceCreateAndGetWireShape(t *testing.T) {
	t.Parallel()
	h := start(t, nil)

	r := h.do(http.MethodPut, "/devices/d1", `{"deviceId":"d1"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
	d := r.object(t)
	requireKeys(t, d, deviceKeys...)
	assert.Equal(t, "d1", d["deviceId"])
	assert.Equal(t, `"`+d["etag"].(string)+`"`, r.Header.Get("ETag"))
	assert.Regexp(t, `^\d{18}$`, d["generationId"])
	assert.Equal(t, "Disconnected", d["connectionState"])
	assert.Equal(t, "enabled", d["status"])
	assert.Nil(t, d["statusReason"])
	for _, k := range []string{"connectionStateUpdatedTime", "statusUpdatedTime", "lastActivityTime"} {
		assert.Equal(t, "0001-01-01T00:00:00Z", d[k], k)
	}
	assert.EqualValues(t, 0, d["cloudToDeviceMessageCount"])
	assert.Equal(t, map[string]any{"iotEdge": false}, d["capabilities"])
	assert.Equal(t, []any{}, d["parentScopes"])

	a := d["authentication"].(map[string]any)
	requireKeys(t, a, "symmetricKey", "x509Thumbprint", "type")
	assert.Equal(t, "sas", a["type"])
	sk := a["symmetricKey"].(map[string]any)
	for _, k := range []string{"primaryKey", "secondaryKey"} {
		b, err := base64.StdEncoding.DecodeString(sk[k].(string))
		require.NoError(t, err)
		assert.Len(t, b, 32, k)
	}
	assert.NotEqual(t, sk["primaryKey"], sk["secondaryKey"])
	assert.Equal(t, map[string]any{"primaryThumbprint": nil, "secondaryThumbprint": nil}, a["x509Thumbprint"])

	g := h.do(http.MethodGet, "/devices/d1", "")
	require.Equal(t, http.StatusOK, g.Status)
	assert.Equal(t, d, g.object(t))
	assert.Equal(t, r.Header.Get("ETag"), g.Header.Get("ETag"))
}

func TestDevicePutRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		path    string
		body    string
		ifMatch func(etag string) string // nil: no If-Match
		code    iothub.ErrorCode         // 0: success
	}{
		{name: "existing id without If-Match", path: "/devices/d1", body: `{"deviceId":"d1"}`, code: iothub.CodeDeviceAlreadyExists},
		{name: "stale If-Match", path: "/devices/d1", body: `{"deviceId":"d1"}`, ifMatch: func(string) string { return `"MTIzNDU2"` }, code: iothub.CodePreconditionFailed},
		{name: "If-Match star", path: "/devices/d1", body: `{"deviceId":"d1","status":"disabled"}`, ifMatch: func(string) string { return "*" }},
		{name: "If-Match current quoted", path: "/devices/d1", body: `{"deviceId":"d1"}`, ifMatch: func(e string) string { return `"` + e + `"` }},
		{name: "If-Match current weak", path: "/devices/d1", body: `{"deviceId":"d1"}`, ifMatch: func(e string) string { return `W/"` + e + `"` }},
		{name: "If-Match on missing device", path: "/devices/nope", body: `{"deviceId":"nope"}`, ifMatch: func(string) string { return "*" }, code: iothub.CodeDeviceNotFound},
		{name: "body id differs from path", path: "/devices/d2", body: `{"deviceId":"other"}`, code: iothub.CodeArgumentInvalid},
		{name: "body without id takes path id", path: "/devices/d3", body: `{}`},
		{name: "invalid character", path: "/devices/a%20b", body: `{"deviceId":"a b"}`, code: iothub.CodeArgumentInvalid},
		{name: "slash in id", path: "/devices/a%2Fb", body: `{"deviceId":"a/b"}`, code: iothub.CodeArgumentInvalid},
		{name: "id of 129 characters", path: "/devices/" + strings.Repeat("x", 129), body: `{}`, code: iothub.CodeArgumentInvalid},
		{name: "id of 128 characters", path: "/devices/" + strings.Repeat("x", 128), body: `{}`},
		{name: "malformed JSON", path: "/devices/d4", body: `{"deviceId":`, code: iothub.CodeArgumentInvalid},
		{name: "wrong JSON type", path: "/devices/d4", body: `{"deviceId":"d4","status":5}`, code: iothub.CodeArgumentInvalid},
		{name: "empty body", path: "/devices/d4", body: ``, code: iothub.CodeArgumentInvalid},
		{name: "invalid status", path: "/devices/d4", body: `{"deviceId":"d4","status":"paused"}`, code: iothub.CodeArgumentInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, nil)
			created := h.do(http.MethodPut, "/devices/d1", `{"deviceId":"d1"}`).object(t)
			var hdr []string
			if tc.ifMatch != nil {
				hdr = []string{"If-Match", tc.ifMatch(created["etag"].(string))}
			}
			r := h.do(http.MethodPut, tc.path, tc.body, hdr...)
			if tc.code != 0 {
				requireHubError(t, r, tc.code)
				return
			}
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			d := r.object(t)
			requireKeys(t, d, deviceKeys...)
			if tc.ifMatch != nil {
				assert.NotEqual(t, created["etag"], d["etag"], "ETag must change on update")
				assert.Equal(t, created["generationId"], d["generationId"], "generationId must stay")
				assert.Equal(t, created["authentication"], d["authentication"], "keys must stay")
			}
		})
	}
}

func TestDeviceStatusUpdateSetsStatusUpdatedTime(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	h.do(http.MethodPut, "/devices/d1", `{"deviceId":"d1"}`)
	r := h.do(http.MethodPut, "/devices/d1", `{"deviceId":"d1","status":"disabled","statusReason":"maintenance"}`, "If-Match", "*")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	d := r.object(t)
	assert.Equal(t, "disabled", d["status"])
	assert.Equal(t, "maintenance", d["statusReason"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`, d["statusUpdatedTime"])
}

func TestDeviceAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		auth string
		code iothub.ErrorCode
		want map[string]any // expected authentication object (nil: only type checked)
		typ  string
	}{
		{name: "sas without keys generates keys", auth: `{"type":"sas"}`, typ: "sas"},
		{name: "no authentication generates sas keys", auth: ``, typ: "sas"},
		{name: "sas with keys keeps them", auth: `{"type":"sas","symmetricKey":{"primaryKey":"` + key1 + `","secondaryKey":"` + key2 + `"}}`, typ: "sas",
			want: map[string]any{"type": "sas", "symmetricKey": map[string]any{"primaryKey": key1, "secondaryKey": key2}, "x509Thumbprint": map[string]any{"primaryThumbprint": nil, "secondaryThumbprint": nil}}},
		{name: "sas with one key", auth: `{"type":"sas","symmetricKey":{"primaryKey":"` + key1 + `"}}`, code: iothub.CodeArgumentInvalid},
		{name: "sas with a key that is not base64", auth: `{"type":"sas","symmetricKey":{"primaryKey":"not base64!","secondaryKey":"` + key2 + `"}}`, code: iothub.CodeArgumentInvalid},
		{name: "sas with a short key", auth: `{"type":"sas","symmetricKey":{"primaryKey":"AAEC","secondaryKey":"` + key2 + `"}}`, code: iothub.CodeArgumentInvalid},
		{name: "sas with thumbprints", auth: `{"type":"sas","x509Thumbprint":{"primaryThumbprint":"` + tp1 + `"}}`, code: iothub.CodeArgumentInvalid},
		{name: "selfSigned with both thumbprints", auth: `{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"` + tp1 + `","secondaryThumbprint":"` + tp2 + `"}}`, typ: "selfSigned",
			want: map[string]any{"type": "selfSigned", "symmetricKey": map[string]any{"primaryKey": nil, "secondaryKey": nil}, "x509Thumbprint": map[string]any{"primaryThumbprint": tp1, "secondaryThumbprint": tp2}}},
		{name: "selfSigned with primary only", auth: `{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"` + tp1 + `"}}`, typ: "selfSigned"},
		{name: "selfSigned without thumbprints", auth: `{"type":"selfSigned"}`, code: iothub.CodeArgumentInvalid},
		{name: "selfSigned with a bad thumbprint", auth: `{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"xyz"}}`, code: iothub.CodeArgumentInvalid},
		{name: "selfSigned with keys", auth: `{"type":"selfSigned","x509Thumbprint":{"primaryThumbprint":"` + tp1 + `"},"symmetricKey":{"primaryKey":"` + key1 + `","secondaryKey":"` + key2 + `"}}`, code: iothub.CodeArgumentInvalid},
		{name: "certificateAuthority", auth: `{"type":"certificateAuthority"}`, typ: "certificateAuthority"},
		{name: "certificateAuthority with keys", auth: `{"type":"certificateAuthority","symmetricKey":{"primaryKey":"` + key1 + `","secondaryKey":"` + key2 + `"}}`, code: iothub.CodeArgumentInvalid},
		{name: "none", auth: `{"type":"none"}`, typ: "none"},
		{name: "unknown type", auth: `{"type":"password"}`, code: iothub.CodeArgumentInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, nil)
			body := `{"deviceId":"d1"}`
			if tc.auth != "" {
				body = `{"deviceId":"d1","authentication":` + tc.auth + `}`
			}
			r := h.do(http.MethodPut, "/devices/d1", body)
			if tc.code != 0 {
				requireHubError(t, r, tc.code)
				requireHubError(t, h.do(http.MethodGet, "/devices/d1", ""), iothub.CodeDeviceNotFound)
				return
			}
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			a := r.object(t)["authentication"].(map[string]any)
			assert.Equal(t, tc.typ, a["type"])
			if tc.want != nil {
				assert.Equal(t, tc.want, a)
			}
			if tc.typ == "sas" {
				sk := a["symmetricKey"].(map[string]any)
				assert.NotEmpty(t, sk["primaryKey"])
				assert.NotEmpty(t, sk["secondaryKey"])
			}
		})
	}
}

func TestDeviceGetAndDelete(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	requireHubError(t, h.do(http.MethodGet, "/devices/missing", ""), iothub.CodeDeviceNotFound)
	requireHubError(t, h.do(http.MethodDelete, "/devices/missing", ""), iothub.CodeDeviceNotFound)

	d := h.do(http.MethodPut, "/devices/d1", `{"deviceId":"d1"}`).object(t)
	requireHubError(t, h.do(http.MethodDelete, "/devices/d1", "", "If-Match", `"c3RhbGU="`), iothub.CodePreconditionFailed)

	r := h.do(http.MethodDelete, "/devices/d1", "", "If-Match", `"`+d["etag"].(string)+`"`)
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	assert.Empty(t, r.Body)
	requireHubError(t, h.do(http.MethodGet, "/devices/d1", ""), iothub.CodeDeviceNotFound)

	// Without If-Match (or with *) a delete is unconditional.
	h.do(http.MethodPut, "/devices/d2", `{"deviceId":"d2"}`)
	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/devices/d2", "").Status)
	h.do(http.MethodPut, "/devices/d3", `{"deviceId":"d3"}`)
	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/devices/d3", "", "If-Match", "*").Status)

	// A re-created device has a new generationId and ETag.
	again := h.do(http.MethodPut, "/devices/d1", `{"deviceId":"d1"}`).object(t)
	assert.NotEqual(t, d["generationId"], again["generationId"])
	assert.NotEqual(t, d["etag"], again["etag"])
}

func TestDeviceIDsNeedingEscapes(t *testing.T) {
	t.Parallel()
	ids := []string{"a#b", "a?b", "100%", "x:y=z@1", "it's($)!", "a*b,c", "dev.ice_1-2", "a+b;c"}
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			h := start(t, nil)
			p := "/devices/" + url.PathEscape(id)
			body := fmt.Sprintf(`{"deviceId":%q}`, id)
			r := h.do(http.MethodPut, p, body)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			assert.Equal(t, id, r.object(t)["deviceId"])
			g := h.do(http.MethodGet, p, "")
			require.Equal(t, http.StatusOK, g.Status, "%s", g.Body)
			assert.Equal(t, id, g.object(t)["deviceId"])
			tw := h.do(http.MethodGet, "/twins/"+url.PathEscape(id), "")
			require.Equal(t, http.StatusOK, tw.Status, "%s", tw.Body)
			assert.Equal(t, id, tw.object(t)["deviceId"])
		})
	}
}

// TestDotIDsRefused: "." and ".." are made of allowed characters, but as
// a path segment they name no resource, so the emulator refuses them on
// every way in, bulk import included.
func TestDotIDsRefused(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	for _, id := range []string{".", ".."} {
		r := h.do(http.MethodPost, "/devices", fmt.Sprintf(`[{"id":%q,"importMode":"create"}]`, id))
		require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
		assert.Contains(t, string(r.Body), "ArgumentInvalid")
		r = h.do(http.MethodPost, "/devices", fmt.Sprintf(`[{"id":"d1","moduleId":%q,"importMode":"create"}]`, id))
		require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	}
	_, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: ".."}}})
	require.Error(t, err, "a seed device named ..")
}

func TestListDevices(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	empty := h.do(http.MethodGet, "/devices", "")
	require.Equal(t, http.StatusOK, empty.Status)
	assert.JSONEq(t, `[]`, string(empty.Body))

	for _, id := range []string{"d3", "d1", "d5", "d2", "d4"} {
		require.Equal(t, http.StatusOK, h.do(http.MethodPut, "/devices/"+id, `{}`).Status)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"d1", "d2", "d3", "d4", "d5"}},
		{"?top=2", []string{"d1", "d2"}},
		{"?top=0", []string{"d1", "d2", "d3", "d4", "d5"}},    // out of 1..1000 reads as 1000
		{"?top=5000", []string{"d1", "d2", "d3", "d4", "d5"}}, // likewise
	}
	for _, tc := range tests {
		r := h.do(http.MethodGet, "/devices"+tc.query, "")
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		var got []string
		for _, d := range r.array(t) {
			requireKeys(t, d, deviceKeys...)
			got = append(got, d["deviceId"].(string))
		}
		assert.Equal(t, tc.want, got, tc.query)
	}
	requireHubError(t, h.do(http.MethodGet, "/devices?top=abc", ""), iothub.CodeArgumentInvalid)
}

func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	assert.Equal(t, http.StatusNotFound, h.do(http.MethodGet, "/nothing/here", "").Status)
	assert.Equal(t, http.StatusMethodNotAllowed, h.do(http.MethodPatch, "/devices/d1", `{}`).Status)
}
