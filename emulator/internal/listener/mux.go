package listener

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// sniffTimeout bounds the TLS handshake and the wait for the first bytes.
const sniffTimeout = 10 * time.Second

// muxListener accepts connections on one of the emulator's ports,
// terminates TLS when configured, looks at the first bytes and hands the
// connection to the AMQP handler ("AMQP…"), the MQTT handler or the HTTP
// server (anything else), if the port serves that protocol.
type muxListener struct {
	ln        net.Listener
	tlsConfig *tls.Config // nil for plain TCP
	logger    *slog.Logger
	// serves are the protocols this port serves; others are closed.
	serves map[Protocol]bool
	// handlers serve the non-HTTP protocols; a nil handler refuses its
	// protocol.
	handlers map[Protocol]*atomic.Pointer[func(net.Conn)]

	// http is where HTTP connections go: the HTTP server's listener, which
	// every port of an emulator shares.
	http *chanListener
	// accepted counts the connections accepted since the start.
	accepted atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // sniffing or handed to AMQP
	closed bool
	wg     sync.WaitGroup
}

// newMuxListener serves the protocols serves (all when empty) on ln;
// HTTP connections are delivered to httpLn.
func newMuxListener(ln net.Listener, tlsConfig *tls.Config, serves []Protocol, handlers map[Protocol]*atomic.Pointer[func(net.Conn)], httpLn *chanListener, logger *slog.Logger) *muxListener {
	m := &muxListener{
		ln:        ln,
		tlsConfig: tlsConfig,
		logger:    logger,
		serves:    map[Protocol]bool{},
		handlers:  handlers,
		http:      httpLn,
		conns:     make(map[net.Conn]struct{}),
	}
	if len(serves) == 0 {
		serves = []Protocol{HTTP, AMQP, MQTT}
	}
	for _, p := range serves {
		m.serves[p] = true
	}
	return m
}

// serve accepts until the listener is closed.
func (m *muxListener) serve() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || m.isClosed() {
				return
			}
			// Out of file descriptors and the like: wait, then retry,
			// as net/http does.
			m.logger.Debug("emulator: accept failed", "error", err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		m.accepted.Add(1)
		if !m.track(c) {
			_ = c.Close()
			return
		}
		m.wg.Add(1)
		go m.route(c)
	}
}

func (m *muxListener) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *muxListener) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

func (m *muxListener) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// route sniffs one connection and hands it on.
func (m *muxListener) route(raw net.Conn) {
	defer m.wg.Done()
	c := raw
	_ = raw.SetDeadline(time.Now().Add(sniffTimeout))
	if m.tlsConfig != nil {
		tc := tls.Server(raw, m.tlsConfig)
		if err := tc.Handshake(); err != nil {
			m.logger.Debug("emulator: TLS handshake failed", "remote", raw.RemoteAddr().String(), "error", err)
			m.untrack(raw)
			_ = raw.Close()
			return
		}
		c = tc
	}
	br := bufio.NewReader(c)
	head, err := br.Peek(sniffLen)
	if err != nil {
		m.untrack(raw)
		_ = c.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	proto := sniff(head)
	if !m.serves[proto] {
		m.logger.Debug("emulator: connection refused: protocol not served on this port", "protocol", proto.String(), "port", m.ln.Addr().String(), "remote", raw.RemoteAddr().String())
		m.untrack(raw)
		_ = c.Close()
		return
	}
	if proto != HTTP {
		var h *func(net.Conn)
		if p := m.handlers[proto]; p != nil {
			h = p.Load()
		}
		if h == nil {
			m.logger.Debug("emulator: connection refused: no handler", "protocol", proto.String(), "remote", raw.RemoteAddr().String())
		} else {
			(*h)(pc) // the handler owns pc until it returns; Close closes it
		}
		m.untrack(raw)
		_ = c.Close()
		return
	}
	m.untrack(raw) // the HTTP server owns it from here
	if !m.http.deliver(&headerConn{Conn: pc}) {
		_ = c.Close()
	}
}

// close stops accepting, closes the connections that are being sniffed or
// served by the AMQP handler, and waits for their goroutines.
func (m *muxListener) close() error {
	err := m.ln.Close()
	m.mu.Lock()
	m.closed = true
	for c := range m.conns {
		_ = c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return err
}

// peekedConn is a connection whose first bytes were read into r already.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// PeerCertificates returns the client certificates of a connection the
// ports (or a WebSocket upgrade) handed to a handler, when it came over
// TLS; nil otherwise.
func PeerCertificates(c net.Conn) []*x509.Certificate {
	if cc, ok := c.(*certConn); ok {
		return cc.peers
	}
	if hc, ok := c.(*headerConn); ok {
		c = hc.Conn
	}
	if pc, ok := c.(*peekedConn); ok {
		c = pc.Conn
	}
	if tc, ok := c.(*tls.Conn); ok {
		return tc.ConnectionState().PeerCertificates
	}
	return nil
}

// chanListener is the net.Listener the HTTP server serves: it yields the
// connections the muxListener routes to HTTP.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept; false when the listener is closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
