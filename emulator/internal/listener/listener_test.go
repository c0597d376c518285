package listener

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

// served is a Ports serving one loopback port, and how to reach it.
type served struct {
	*Ports
	addr   string
	tls    *tls.Config // the client's; nil for plain TCP
	client *http.Client
	base   string // the HTTP server's base URL
}

// answerHTTP answers every HTTP request 200 without reading its body, as
// the REST API answers a request without credentials.
var answerHTTP = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
})

// serve starts a Ports on a free loopback port, with TLS when useTLS; the
// caller closes it (shutdown and close, as the emulator does).
func serve(t *testing.T, useTLS bool, opts *HTTPOptions) *served {
	t.Helper()
	p, err := Listen(context.Background(), nil)
	require.NoError(t, err)
	s := &served{Ports: p, addr: DialableHost(p.Addrs()[0]), client: &http.Client{Transport: &http.Transport{}}}
	var serverTLS *tls.Config
	s.base = "http://" + s.addr
	if useTLS {
		certs, err := NewCertificates("emulator", nil, "127.0.0.1")
		require.NoError(t, err)
		serverTLS, s.tls = certs.ServerConfig(), certs.ClientConfig()
		s.client.Transport = &http.Transport{TLSClientConfig: s.tls}
		s.base = "https://" + s.addr
	}
	p.Serve(serverTLS, answerHTTP, opts)
	return s
}

func (s *served) close() {
	_ = s.Shutdown(context.Background())
	s.Close()
	s.client.CloseIdleConnections()
}

func (s *served) dial(t *testing.T) net.Conn {
	t.Helper()
	if s.tls != nil {
		c, err := tls.Dial("tcp", s.addr, s.tls)
		require.NoError(t, err)
		return c
	}
	c, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	return c
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
			s := serve(t, useTLS, nil)
			defer s.close()
			got := make(chan []byte, 1)
			s.Handle(AMQP, echoAMQP(got))

			amqpConn := s.dial(t)
			defer amqpConn.Close()
			_, err := amqpConn.Write(amqpHeader)
			require.NoError(t, err)
			reply := make([]byte, len(amqpHeader))
			require.NoError(t, amqpConn.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, err = io.ReadFull(amqpConn, reply)
			require.NoError(t, err)
			assert.Equal(t, amqpHeader, reply)
			assert.Equal(t, amqpHeader, <-got, "the handler reads the sniffed bytes again")

			// HTTP on the same port, while the AMQP connection is open.
			resp, err := s.client.Get(s.base + "/devices?api-version=2021-04-12")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)

			// Without a handler, AMQP connections are closed.
			s.Handle(AMQP, nil)
			c := s.dial(t)
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
	s := serve(t, false, nil)
	got := make(chan []byte, 1)
	s.Handle(AMQP, echoAMQP(got))
	c := s.dial(t)
	defer c.Close()
	_, err := c.Write(amqpHeader)
	require.NoError(t, err)
	require.NotNil(t, <-got)
	s.close() // returns only once the handler has returned
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadFull(c, make([]byte, len(amqpHeader)))
	require.NoError(t, err)
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
}

func TestSilentConnectionDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	s := serve(t, false, nil)
	defer s.close()
	silent := s.dial(t)
	defer silent.Close()
	resp, err := s.client.Get(s.base + "/devices?api-version=2021-04-12")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestSniff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		head string
		want Protocol
	}{
		{"AMQP\x00\x01\x00\x00", AMQP},
		{"AMQP\x03\x01\x00\x00", AMQP}, // SASL header
		{"\x10\x16\x00\x04MQTT", MQTT},
		{"GET /dev", HTTP},
		{"PUT /dev", HTTP},
		{"PRI * HT", HTTP},
		{"\x16\x03\x01\x02\x00\x01\x00\x01", HTTP}, // a TLS hello on a plain port: HTTP answers it
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, sniff([]byte(tc.head)), "%q", tc.head)
	}
}

// TestHTTPTimeouts: a request body that trickles in is cut off after
// ReadTimeout, and a keep-alive connection left idle is closed after
// IdleTimeout.
func TestHTTPTimeouts(t *testing.T) {
	t.Parallel()
	s := serve(t, false, &HTTPOptions{ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	defer s.close()

	closedWithin := func(c net.Conn, d time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return err == nil || !(errors.As(err, &ne) && ne.Timeout())
	}

	slow := s.dial(t)
	defer slow.Close()
	_, err := slow.Write([]byte("PUT /devices/d1?api-version=2021-04-12 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"))
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

	idle := s.dial(t)
	defer idle.Close()
	_, err = idle.Write([]byte("GET /devices?api-version=2021-04-12 HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 4096)
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = idle.Read(buf) // the answer
	require.NoError(t, err)
	assert.True(t, closedWithin(idle, 5*time.Second), "the idle keep-alive connection was closed")
}
