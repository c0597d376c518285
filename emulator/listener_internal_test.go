package emulator

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMQTTMalformedConnectIsClosed: the MQTT front end takes what the
// sniffer routes to it, and closes a CONNECT it cannot read.
func TestMQTTMalformedConnectIsClosed(t *testing.T) {
	t.Parallel()
	e, err := Start(context.Background(), nil)
	require.NoError(t, err)
	defer e.Close()
	c, err := net.Dial("tcp", e.HostName())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("\x10\x06\x00\x04MQT\x05")) // a name of 4 bytes, then the body ends
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "closed, not answered by the HTTP server")
}
