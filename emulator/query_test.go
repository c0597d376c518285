package emulator_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
)

func queryFleet(t *testing.T) *hub {
	var seeds []emulator.DeviceSeed
	for i := range 5 {
		site := "a"
		if i%2 == 1 {
			site = "b"
		}
		seeds = append(seeds, emulator.DeviceSeed{DeviceID: fmt.Sprintf("d%d", i), Tags: map[string]any{"site": site}, Modules: []string{"m"}})
	}
	return start(t, &emulator.Options{Devices: seeds})
}

func TestQueryTwins(t *testing.T) {
	t.Parallel()
	h := queryFleet(t)
	r := h.do(http.MethodPost, "/devices/query", `{"query":"SELECT * FROM devices WHERE tags.site = 'a'"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.Equal(t, "twin", r.Header.Get("x-ms-item-type"))
	assert.Empty(t, r.Header.Get("x-ms-continuation"))
	var ids []string
	for _, tw := range r.array(t) {
		requireKeys(t, tw, append(twinKeys, "tags")...)
		ids = append(ids, tw["deviceId"].(string))
	}
	assert.Equal(t, []string{"d0", "d2", "d4"}, ids)

	m := h.do(http.MethodPost, "/devices/query", `{"query":"SELECT deviceId, moduleId FROM devices.modules WHERE deviceId = 'd3'"}`)
	require.Equal(t, http.StatusOK, m.Status, "%s", m.Body)
	assert.Equal(t, "raw", m.Header.Get("x-ms-item-type"))
	assert.JSONEq(t, `[{"deviceId":"d3","moduleId":"m"}]`, string(m.Body))

	c := h.do(http.MethodPost, "/devices/query", `{"query":"SELECT COUNT() AS n FROM devices"}`)
	require.Equal(t, http.StatusOK, c.Status, "%s", c.Body)
	assert.JSONEq(t, `[{"n":5}]`, string(c.Body))
}

func TestQueryPaging(t *testing.T) {
	t.Parallel()
	h := queryFleet(t)
	var ids []string
	continuation := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		hdr := []string{"x-ms-max-item-count", "2"}
		if continuation != "" {
			hdr = append(hdr, "x-ms-continuation", continuation)
		}
		r := h.do(http.MethodPost, "/devices/query", `{"query":"SELECT * FROM devices"}`, hdr...)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		page := r.array(t)
		assert.LessOrEqual(t, len(page), 2)
		for _, tw := range page {
			ids = append(ids, tw["deviceId"].(string))
		}
		continuation = r.Header.Get("x-ms-continuation")
		if continuation == "" {
			break
		}
	}
	assert.Equal(t, []string{"d0", "d1", "d2", "d3", "d4"}, ids)
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	h := queryFleet(t)
	tests := []struct {
		name   string
		body   string
		header []string
	}{
		{name: "syntax error", body: `{"query":"SELEKT * FROM devices"}`},
		{name: "empty query", body: `{"query":""}`},
		{name: "not JSON", body: `SELECT * FROM devices`},
		{name: "bad continuation", body: `{"query":"SELECT * FROM devices"}`, header: []string{"x-ms-continuation", "bogus"}},
		{name: "bad page size", body: `{"query":"SELECT * FROM devices"}`, header: []string{"x-ms-max-item-count", "many"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requireHubError(t, h.do(http.MethodPost, "/devices/query", tc.body, tc.header...), iothub.CodeArgumentInvalid)
		})
	}
	assert.Equal(t, http.StatusOK, h.doAs("registryRead", http.MethodPost, "/devices/query", `{"query":"SELECT * FROM devices"}`).Status)
	assert.Equal(t, http.StatusOK, h.doAs("service", http.MethodPost, "/devices/query", `{"query":"SELECT * FROM devices"}`).Status)
	requireHubError(t, h.doAs("device", http.MethodPost, "/devices/query", `{"query":"SELECT * FROM devices"}`), iothub.CodeIotHubUnauthorizedAccess)
}
