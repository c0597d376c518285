package emulator_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

var twinKeys = []string{
	"deviceId", "etag", "deviceEtag", "status", "statusUpdateTime", "connectionState",
	"lastActivityTime", "cloudToDeviceMessageCount", "authenticationType", "x509Thumbprint",
	"modelId", "version", "properties", "capabilities",
}

func TestTwinWireShape(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
	dev := h.do(http.MethodGet, "/devices/d1", "").object(t)

	r := h.do(http.MethodGet, "/twins/d1", "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	tw := r.object(t)
	requireKeys(t, tw, twinKeys...)
	assert.Equal(t, "d1", tw["deviceId"])
	assert.Regexp(t, `^[A-Za-z0-9+/]{11}=$`, tw["etag"])
	assert.Equal(t, `"`+tw["etag"].(string)+`"`, r.Header.Get("ETag"))
	assert.Equal(t, dev["etag"], tw["deviceEtag"])
	assert.Equal(t, "enabled", tw["status"])
	assert.Equal(t, "Disconnected", tw["connectionState"])
	assert.Equal(t, "0001-01-01T00:00:00Z", tw["lastActivityTime"])
	assert.Equal(t, "0001-01-01T00:00:00Z", tw["statusUpdateTime"])
	assert.Equal(t, "sas", tw["authenticationType"])
	assert.Equal(t, map[string]any{"primaryThumbprint": nil, "secondaryThumbprint": nil}, tw["x509Thumbprint"])
	assert.EqualValues(t, 1, tw["version"])
	assert.EqualValues(t, 0, tw["cloudToDeviceMessageCount"])
	assert.Equal(t, map[string]any{"iotEdge": false}, tw["capabilities"])

	props := tw["properties"].(map[string]any)
	requireKeys(t, props, "desired", "reported")
	desired := props["desired"].(map[string]any)
	requireKeys(t, desired, "$metadata", "$version")
	assert.EqualValues(t, 1, desired["$version"])
	meta := desired["$metadata"].(map[string]any)
	requireKeys(t, meta, "$lastUpdated", "$lastUpdatedVersion")
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`, meta["$lastUpdated"])
	reported := props["reported"].(map[string]any)
	requireKeys(t, reported, "$metadata", "$version")
	requireKeys(t, reported["$metadata"].(map[string]any), "$lastUpdated")

	mr := h.do(http.MethodGet, "/twins/d1/modules/m1", "")
	require.Equal(t, http.StatusOK, mr.Status, "%s", mr.Body)
	mt := mr.object(t)
	requireKeys(t, mt, "deviceId", "moduleId", "etag", "deviceEtag", "status", "statusUpdateTime", "connectionState",
		"lastActivityTime", "cloudToDeviceMessageCount", "authenticationType", "x509Thumbprint", "modelId", "version", "properties")
	assert.Equal(t, "m1", mt["moduleId"])
	mod := h.do(http.MethodGet, "/devices/d1/modules/m1", "").object(t)
	assert.Equal(t, mod["etag"], mt["deviceEtag"])

	requireHubError(t, h.do(http.MethodGet, "/twins/nope", ""), iothub.CodeDeviceNotFound)
	requireHubError(t, h.do(http.MethodGet, "/twins/d1/modules/nope", ""), iothub.CodeModuleNotFound)
	requireHubError(t, h.do(http.MethodGet, "/twins/nope/modules/m1", ""), iothub.CodeDeviceNotFound)
}

func TestTwinPatchMerges(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"/twins/d1", "/twins/d1/modules/m1"} {
		t.Run(base, func(t *testing.T) {
			t.Parallel()
			h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Modules: []string{"m1"}}}})
			before := h.do(http.MethodGet, base, "").object(t)

			r1 := h.do(http.MethodPatch, base, `{"tags":{"a":{"b":1,"c":2}},"properties":{"desired":{"x":{"y":1},"keep":true}}}`)
			require.Equal(t, http.StatusOK, r1.Status, "%s", r1.Body)
			t1 := r1.object(t)
			assert.Equal(t, map[string]any{"a": map[string]any{"b": 1.0, "c": 2.0}}, t1["tags"])
			assert.EqualValues(t, 2, t1["version"])
			assert.NotEqual(t, before["etag"], t1["etag"])
			d1 := t1["properties"].(map[string]any)["desired"].(map[string]any)
			assert.EqualValues(t, 2, d1["$version"])
			assert.Equal(t, map[string]any{"y": 1.0}, d1["x"])
			xm := d1["$metadata"].(map[string]any)["x"].(map[string]any)
			assert.EqualValues(t, 2, xm["$lastUpdatedVersion"])
			ym := xm["y"].(map[string]any)
			requireKeys(t, ym, "$lastUpdated", "$lastUpdatedVersion")

			r2 := h.do(http.MethodPatch, base, `{"tags":{"a":{"b":null,"d":"3"}},"properties":{"desired":{"x":null,"z":[1,"two"]}}}`)
			require.Equal(t, http.StatusOK, r2.Status, "%s", r2.Body)
			t2 := r2.object(t)
			assert.Equal(t, map[string]any{"a": map[string]any{"c": 2.0, "d": "3"}}, t2["tags"])
			assert.EqualValues(t, 3, t2["version"])
			assert.NotEqual(t, t1["etag"], t2["etag"])
			d2 := t2["properties"].(map[string]any)["desired"].(map[string]any)
			assert.EqualValues(t, 3, d2["$version"])
			assert.NotContains(t, d2, "x")
			assert.NotContains(t, d2["$metadata"], "x")
			assert.Equal(t, true, d2["keep"])
			assert.EqualValues(t, 2, d2["$metadata"].(map[string]any)["keep"].(map[string]any)["$lastUpdatedVersion"])
			assert.EqualValues(t, 3, d2["$metadata"].(map[string]any)["z"].(map[string]any)["$lastUpdatedVersion"])
			assert.Equal(t, []any{1.0, "two"}, d2["z"])

			// A tags-only patch leaves the desired $version alone.
			t3 := h.do(http.MethodPatch, base, `{"tags":{"only":"tags"}}`).object(t)
			assert.EqualValues(t, 4, t3["version"])
			assert.EqualValues(t, 3, t3["properties"].(map[string]any)["desired"].(map[string]any)["$version"])

			g := h.do(http.MethodGet, base, "")
			assert.Equal(t, t3, g.object(t))
		})
	}
}

func TestTwinReplace(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1", Tags: map[string]any{"old": 1}, Desired: map[string]any{"old": 1}}}})
	seeded := h.do(http.MethodGet, "/twins/d1", "").object(t)
	assert.Equal(t, map[string]any{"old": 1.0}, seeded["tags"])

	r := h.do(http.MethodPut, "/twins/d1", `{"tags":{"new":1},"properties":{"desired":{"new":{"n":1}}}}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	tw := r.object(t)
	assert.Equal(t, map[string]any{"new": 1.0}, tw["tags"])
	d := tw["properties"].(map[string]any)["desired"].(map[string]any)
	assert.NotContains(t, d, "old")
	assert.Equal(t, map[string]any{"n": 1.0}, d["new"])
	assert.Greater(t, d["$version"].(float64), seeded["properties"].(map[string]any)["desired"].(map[string]any)["$version"].(float64))

	// A twin read back, modified and replaced: read-only fields are ignored.
	tw["tags"] = map[string]any{"replaced": true}
	body := mustJSON(t, tw)
	r2 := h.do(http.MethodPut, "/twins/d1", body)
	require.Equal(t, http.StatusOK, r2.Status, "%s", r2.Body)
	assert.Equal(t, map[string]any{"replaced": true}, r2.object(t)["tags"])

	// What the body leaves out becomes empty.
	r3 := h.do(http.MethodPut, "/twins/d1", `{}`)
	require.Equal(t, http.StatusOK, r3.Status, "%s", r3.Body)
	t3 := r3.object(t)
	assert.NotContains(t, t3, "tags")
	requireKeys(t, t3["properties"].(map[string]any)["desired"].(map[string]any), "$metadata", "$version")
}

func TestTwinIfMatch(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodPatch, http.MethodPut} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
			etag := h.do(http.MethodGet, "/twins/d1", "").object(t)["etag"].(string)
			requireHubError(t, h.do(method, "/twins/d1", `{"tags":{"a":1}}`, "If-Match", `"AAAAAAAAAAA="`), iothub.CodePreconditionFailed)
			r := h.do(method, "/twins/d1", `{"tags":{"a":1}}`, "If-Match", `"`+etag+`"`)
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			// The old ETag is stale now.
			requireHubError(t, h.do(method, "/twins/d1", `{"tags":{"a":2}}`, "If-Match", `"`+etag+`"`), iothub.CodePreconditionFailed)
			require.Equal(t, http.StatusOK, h.do(method, "/twins/d1", `{"tags":{"a":3}}`, "If-Match", "*").Status)
		})
	}
}

// nested returns keys l1…ln nested in each other, ln holding 1: n-1 levels
// of objects below the outer one.
func nested(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"l%d":`, i)
	}
	b.WriteString(`1`)
	b.WriteString(strings.Repeat("}", n))
	return b.String()
}

func bigObject(keys, valueLen int) string {
	parts := make([]string, keys)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":"%s"`, i, strings.Repeat("v", valueLen))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestTwinRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		code iothub.ErrorCode // 0: accepted
	}{
		{name: "key with a dot", body: `{"tags":{"a.b":1}}`, code: iothub.CodeArgumentInvalid},
		{name: "key with a dollar", body: `{"properties":{"desired":{"$x":1}}}`, code: iothub.CodeArgumentInvalid},
		{name: "key with a space", body: `{"tags":{"a":{"b c":1}}}`, code: iothub.CodeArgumentInvalid},
		{name: "key with a control character", body: `{"tags":{"a\u0001":1}}`, code: iothub.CodeArgumentInvalid},
		{name: "empty key", body: `{"tags":{"":1}}`, code: iothub.CodeArgumentInvalid},
		{name: "key over 1 KB", body: `{"tags":{"` + strings.Repeat("k", 1025) + `":1}}`, code: iothub.CodeArgumentInvalid},
		// The docs' example: ten nested objects, the tenth holding a value.
		{name: "depth 10", body: `{"tags":` + nested(11) + `}`},
		{name: "depth 11", body: `{"properties":{"desired":` + nested(12) + `}}`, code: iothub.CodeArgumentInvalid},
		{name: "string value of 4 KB", body: `{"tags":{"s":"` + strings.Repeat("v", 4096) + `"}}`},
		{name: "string value over 4 KB", body: `{"tags":{"s":"` + strings.Repeat("v", 4097) + `"}}`, code: iothub.CodeArgumentInvalid},
		{name: "tags over 8 KB", body: `{"tags":` + bigObject(3, 3000) + `}`, code: iothub.CodeArgumentInvalid},
		{name: "desired of 30 KB", body: `{"properties":{"desired":` + bigObject(8, 3800) + `}}`},
		{name: "desired over 32 KB", body: `{"properties":{"desired":` + bigObject(9, 4000) + `}}`, code: iothub.CodeArgumentInvalid},
		{name: "tags not an object", body: `{"tags":[1]}`, code: iothub.CodeArgumentInvalid},
		{name: "desired not an object", body: `{"properties":{"desired":"x"}}`, code: iothub.CodeArgumentInvalid},
		{name: "not JSON", body: `tags`, code: iothub.CodeArgumentInvalid},
		{name: "system keys in desired are ignored", body: `{"properties":{"desired":{"$metadata":{"x":1},"$version":99,"ok":1}}}`},
		{name: "reported properties are ignored", body: `{"properties":{"reported":{"r":1}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
			before := h.do(http.MethodGet, "/twins/d1", "").object(t)
			r := h.do(http.MethodPatch, "/twins/d1", tc.body)
			if tc.code != 0 {
				requireHubError(t, r, tc.code)
				assert.Equal(t, before, h.do(http.MethodGet, "/twins/d1", "").object(t), "a refused patch changes nothing")
				return
			}
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			tw := r.object(t)
			reported := tw["properties"].(map[string]any)["reported"].(map[string]any)
			requireKeys(t, reported, "$metadata", "$version")
			assert.EqualValues(t, 1, reported["$version"])
			if d := tw["properties"].(map[string]any)["desired"].(map[string]any); d["ok"] != nil {
				assert.NotEqual(t, 99.0, d["$version"])
			}
		})
	}
}

func TestTwinFollowsIdentity(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	d := h.do(http.MethodPut, "/devices/d1", `{"deviceId":"d1","status":"disabled","capabilities":{"iotEdge":true}}`, "If-Match", "*").object(t)
	tw := h.do(http.MethodGet, "/twins/d1", "").object(t)
	assert.Equal(t, "disabled", tw["status"])
	assert.Equal(t, d["etag"], tw["deviceEtag"])
	assert.Equal(t, map[string]any{"iotEdge": true}, tw["capabilities"])
	assert.NotEqual(t, "0001-01-01T00:00:00Z", tw["statusUpdateTime"])
}
