package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProcessResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hub, err := startDemoHub(ctx)
	require.NoError(t, err)
	defer hub.Close()
	dir := t.TempDir()

	var first bytes.Buffer
	require.NoError(t, process(ctx, &first, hub.ConnectionString(), dir, 6))
	assert.Contains(t, first.String(), "thermo-")
	assert.Contains(t, first.String(), "events behind)", "each line says how far behind the processor is")

	// A second run resumes from the checkpoints written on the way out:
	// the first events are not handled again.
	var second bytes.Buffer
	require.NoError(t, process(ctx, &second, hub.ConnectionString(), dir, 3))
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(first.String()), "\n") {
		at, _, _ := strings.Cut(line, ":") // "partition P seq N"
		seen[at] = true
	}
	require.NotEmpty(t, second.String())
	for _, line := range strings.Split(strings.TrimSpace(second.String()), "\n") {
		at, _, _ := strings.Cut(line, ":")
		assert.False(t, seen[at], "%s handled again after a restart", at)
	}
}
