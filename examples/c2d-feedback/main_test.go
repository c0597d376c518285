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

func TestSendAndFollow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hub, err := startDemoHub(ctx, "lamp-1")
	require.NoError(t, err)
	defer hub.Close()
	var out bytes.Buffer
	require.NoError(t, sendAndFollow(ctx, &out, hub.ConnectionString(), "lamp-1", 4))
	assert.Equal(t, 2, strings.Count(out.String(), ": Success"))
	assert.Equal(t, 2, strings.Count(out.String(), ": Rejected"))
}
