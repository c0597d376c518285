package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, ""))
	for _, want := range []string{
		"device quickstart-thermostat: enabled, authentication sas",
		`direct method: status 200, payload {"accepted":21.5}`,
		"twin: the device reported reportingIntervalSeconds=30",
		"query: quickstart-thermostat is on floor 2",
		": Success",
		`telemetry: partition`,
		`{"temperature":22.0}`,
		"statistics: 1 devices (1 enabled), 1 connected",
	} {
		assert.Contains(t, out.String(), want)
	}
}
