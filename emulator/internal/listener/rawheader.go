package listener

import (
	"bytes"
	"net"
	"net/http"
	"sync"
)

// rawKeep is how many of the last bytes read a connection served to the
// HTTP server keeps: enough for the header block of any device API
// request (a longer block is not found, and its names stay canonical).
const rawKeep = 16 << 10

// headerConn is a connection handed to the HTTP server that keeps the
// last bytes read from it, so that a handler can see its request's
// header block as the client spelt it: Go's server canonicalises header
// names, and IoT Hub's application property names (iothub-app-{name})
// are case-sensitive. A WebSocket upgrade stops the recording.
type headerConn struct {
	net.Conn
	mu      sync.Mutex
	buf     []byte
	stopped bool
}

func (c *headerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.stopped {
			c.buf = append(c.buf, p[:n]...)
			if len(c.buf) > 2*rawKeep {
				c.buf = append([]byte(nil), c.buf[len(c.buf)-rawKeep:]...)
			}
		}
		c.mu.Unlock()
	}
	return n, err
}

// stop ends the recording, for a connection that is no longer HTTP.
func (c *headerConn) stop() {
	c.mu.Lock()
	c.stopped, c.buf = true, nil
	c.mu.Unlock()
}

// block returns the last header block read that starts with line, or nil.
func (c *headerConn) block(line []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := bytes.LastIndex(c.buf, line)
	if i < 0 {
		return nil
	}
	end := bytes.Index(c.buf[i:], []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	return append([]byte(nil), c.buf[i:i+end+4]...)
}

// RequestHeaderBlock returns the header block (request line and header
// lines) of an HTTP request the ports served, as the client sent it, or
// nil when it is not at hand. The bytes found are the last that begin
// with the request's line: a caller checks them against Request.Header
// before trusting them, as a body may hold look-alike bytes.
func RequestHeaderBlock(r *http.Request) []byte {
	c, ok := r.Context().Value(connKey{}).(*headerConn)
	if !ok {
		return nil
	}
	return c.block([]byte(r.Method + " " + r.RequestURI + " "))
}
