package emulator

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var amqpHeader = []byte("AMQP\x00\x01\x00\x00")

// echoAMQP answers the protocol header with its own and reports what it
// read.
func echoAMQP(got chan<- []byte) func(net.Conn) {
	return func(c net.Conn) {
		buf := make([]byte, len(amqpHeader))
		if _, err := io.ReadFull(c, buf); err != nil {
			got <- nil
			return
		}
		_, _ = c.Write(amqpHeader)
		got <- buf
		_, _ = io.Copy(io.Discard, c) // hold the connection until the peer or Close ends it
	}
}

func TestOnePortServesHTTPAndAMQP(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		name := "plain"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e, err := Start(context.Background(), &Options{TLS: useTLS})
			require.NoError(t, err)
			defer e.Close()
			got := make(chan []byte, 1)
			e.setAMQPHandler(echoAMQP(got))

			dial := func() net.Conn {
				if useTLS {
					c, err := tls.Dial("tcp", e.HostName(), e.TLSConfig())
					require.NoError(t, err)
					return c
				}
				c, err := net.Dial("tcp", e.HostName())
				require.NoError(t, err)
				return c
			}
			amqpConn := dial()
			defer amqpConn.Close()
			_, err = amqpConn.Write(amqpHeader)
			require.NoError(t, err)
			reply := make([]byte, len(amqpHeader))
			require.NoError(t, amqpConn.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, err = io.ReadFull(amqpConn, reply)
			require.NoError(t, err)
			assert.Equal(t, amqpHeader, reply)
			assert.Equal(t, amqpHeader, <-got, "the handler reads the sniffed bytes again")

			// HTTP on the same port, while the AMQP connection is open.
			resp, err := e.Client().Get(e.URL() + "/devices?api-version=2021-04-12")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

			// Without a handler, AMQP connections are closed.
			e.setAMQPHandler(nil)
			c := dial()
			defer c.Close()
			_, err = c.Write(amqpHeader)
			require.NoError(t, err)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, err = c.Read(make([]byte, 1))
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestCloseEndsAMQPConnections(t *testing.T) {
	t.Parallel()
	e, err := Start(context.Background(), nil)
	require.NoError(t, err)
	got := make(chan []byte, 1)
	e.setAMQPHandler(echoAMQP(got))
	c, err := net.Dial("tcp", e.HostName())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(amqpHeader)
	require.NoError(t, err)
	require.NotNil(t, <-got)
	e.Close() // returns only once the handler has returned
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadFull(c, make([]byte, len(amqpHeader)))
	require.NoError(t, err)
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
}

func TestSilentConnectionDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	e, err := Start(context.Background(), nil)
	require.NoError(t, err)
	defer e.Close()
	silent, err := net.Dial("tcp", e.HostName())
	require.NoError(t, err)
	defer silent.Close()
	resp, err := e.Client().Get(e.URL() + "/devices?api-version=2021-04-12")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		head string
		want protocol
	}{
		{"AMQP\x00\x01\x00\x00", protoAMQP},
		{"AMQP\x03\x01\x00\x00", protoAMQP}, // SASL header
		{"\x10\x16\x00\x04MQTT", protoMQTT},
		{"GET /dev", protoHTTP},
		{"PUT /dev", protoHTTP},
		{"PRI * HT", protoHTTP},
		{"\x16\x03\x01\x02\x00\x01\x00\x01", protoHTTP}, // a TLS hello on a plain port: HTTP answers it
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, sniff([]byte(tc.head)), "%q", tc.head)
	}
}

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

// TestHTTPTimeouts: a request body that trickles in is cut off after
// HTTPReadTimeout, and a keep-alive connection left idle is closed after
// HTTPIdleTimeout; a WebSocket upgrade outlives both.
func TestHTTPTimeouts(t *testing.T) {
	t.Parallel()
	e, err := Start(context.Background(), &Options{HTTPReadTimeout: 300 * time.Millisecond, HTTPIdleTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer e.Close()

	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return err == nil || !(errors.As(err, &ne) && ne.Timeout())
	}

	slow, err := net.Dial("tcp", e.HostName())
	require.NoError(t, err)
	defer slow.Close()
	_, err = slow.Write([]byte("PUT /devices/d1?api-version=2021-04-12 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"))
	require.NoError(t, err)
	start := time.Now()
	for i := 0; i < 3; i++ { // a byte every 100 ms: too slow to finish in time
		time.Sleep(100 * time.Millisecond)
		if _, err := slow.Write([]byte(" ")); err != nil {
			break
		}
	}
	assert.True(t, closedWithin(slow, 5*time.Second), "the slow request was cut off")
	assert.Less(t, time.Since(start), 5*time.Second)

	idle, err := net.Dial("tcp", e.HostName())
	require.NoError(t, err)
	defer idle.Close()
	_, err = idle.Write([]byte("GET /devices?api-version=2021-04-12 HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 4096)
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = idle.Read(buf) // the 401 answer
	require.NoError(t, err)
	assert.True(t, closedWithin(idle, 5*time.Second), "the idle keep-alive connection was closed")
}
