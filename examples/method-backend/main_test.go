package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/methods"
)

func TestFanBackend(t *testing.T) {
	ctx := context.Background()
	hub, err := startDemoHub(ctx)
	require.NoError(t, err)
	defer hub.Close()
	slow, err := hub.Device("fan-offline")
	require.NoError(t, err)
	client, err := methods.NewClientFromConnectionString(hub.ConnectionString(), nil)
	require.NoError(t, err)
	srv := httptest.NewServer(newHandler(client))
	defer srv.Close()

	post := func(id, body string) (int, map[string]any) {
		resp, err := http.Post(srv.URL+"/devices/"+id+"/fan", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post("fan-1", `{"on":true}`)
	assert.Equal(t, 200, code)
	assert.Equal(t, map[string]any{"fanOn": true}, out["payload"])
	code, _ = post("fan-offline", `{"on":true}`)
	assert.Equal(t, 503, code)
	code, _ = post("nobody", `{"on":true}`)
	assert.Equal(t, 404, code)
	code, _ = post("fan-1", `not json`)
	assert.Equal(t, 400, code)

	// A device that takes longer than the 10 s response time-out.
	require.NoError(t, slow.Connect(ctx))
	slow.HandleMethod("setFan", func(ctx context.Context, _ json.RawMessage) (int, any) {
		<-ctx.Done()
		return 500, nil
	})
	start := time.Now()
	code, _ = post("fan-offline", `{"on":false}`)
	assert.Equal(t, 504, code)
	assert.GreaterOrEqual(t, time.Since(start), 10*time.Second)
}
