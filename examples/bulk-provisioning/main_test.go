package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

func TestProvision(t *testing.T) {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "sensor-000007"}}})
	require.NoError(t, err)
	defer hub.Close()
	var out bytes.Buffer
	require.NoError(t, provision(ctx, &out, hub.ConnectionString(), "sensor", 1000))
	assert.Contains(t, out.String(), "100% (1000 of 1000)")
	assert.Contains(t, out.String(), "registered 999 of 1000 devices")
	assert.Contains(t, out.String(), "failed sensor-000007")
}
