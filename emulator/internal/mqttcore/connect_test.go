package mqttcore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/devicemqtt"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/listener"
)

// serve runs a hub core in memory with the MQTT front end on a loopback
// port that also serves HTTP, as a single-port emulator does, until the
// test ends; it returns the address to dial.
func serve(t *testing.T) string {
	t.Helper()
	ports, err := listener.Listen(context.Background(), nil)
	require.NoError(t, err)
	addr := listener.DialableHost(ports.Addrs()[0])
	hub, err := core.Open(nil)
	require.NoError(t, err)
	hub.SetHostName(addr, false)
	require.NoError(t, hub.OpenMessaging(eventhubs.Options{}))
	srv := devicemqtt.NewServer(New(hub), &devicemqtt.Options{Now: hub.Now})
	ports.Handle(listener.MQTT, func(c net.Conn) {
		_ = srv.ServeConn(hub.BaseContext(), c, listener.PeerCertificates(c))
	})
	ports.Serve(nil, http.NotFoundHandler(), nil)
	t.Cleanup(func() {
		hub.Stop(errors.New("the test ended"))
		_ = ports.Shutdown(context.Background())
		srv.Close()
		ports.Close()
		_ = hub.Close()
	})
	return addr
}

// TestMQTTMalformedConnectIsClosed: the MQTT front end takes what the
// sniffer routes to it, and closes a CONNECT it cannot read.
func TestMQTTMalformedConnectIsClosed(t *testing.T) {
	t.Parallel()
	c, err := net.Dial("tcp", serve(t))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("\x10\x06\x00\x04MQT\x05")) // a name of 4 bytes, then the body ends
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "closed, not answered by the HTTP server")
}
