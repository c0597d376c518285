package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmulatorFileUploadFlags runs `iothub emulator --file-upload-storage`:
// it names the upload container, and neither it nor its errors show the
// account key.
func TestEmulatorFileUploadFlags(t *testing.T) {
	t.Parallel()
	const key = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQ="
	storage := "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + key + ";EndpointSuffix=core.windows.net"
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"emulator", "--file-upload-storage", storage, "--file-upload-container", "uploads"},
			&env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Press Ctrl-C") }, 20*time.Second, 10*time.Millisecond)
	assert.Contains(t, out.String(), "file uploads: https://acct.blob.core.windows.net/uploads\n")
	assert.NotContains(t, out.String(), key)
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(20 * time.Second):
		t.Fatal("the emulator did not stop on interrupt")
	}

	r := cli(t, "", "", "emulator", "--file-upload-storage", "AccountName=acct;AcountKey="+key)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `unknown setting "AcountKey"`)
	assert.NotContains(t, r.stdout+r.stderr, key)
	r = cli(t, "", "", "emulator", "--file-upload-storage", "AccountName=acct")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "AccountKey is missing")
	r = cli(t, "", "", "emulator", "--file-upload-container", "uploads")
	assert.Equal(t, 1, r.code, "--file-upload-container needs --file-upload-storage")
	assert.Contains(t, r.stderr, "--file-upload-storage")

	help := cli(t, "", "", "emulator", "--help")
	assert.Contains(t, help.stdout, "--file-upload-storage")
	assert.Contains(t, help.stdout, "--file-upload-container")
}
