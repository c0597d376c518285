// Package amqpconn is the AMQP connection shared by the c2d and eventhub
// clients: it dials (TLS on port 5671, or plain TCP to the local emulator),
// authenticates links with CBS put-token and keeps their tokens renewed,
// and recovers from failures — one reconnect at a time however many
// callers notice the failure.
package amqpconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
)

// DefaultPort is the AMQPS port of IoT Hub and Event Hubs.
const DefaultPort = "5671"

// Config is what a Conn needs.
type Config struct {
	// HostName is the host to connect to, optionally with a port
	// (default 5671).
	HostName string
	// Credential supplies the CBS tokens.
	Credential auth.Credential
	// PlainTCP skips TLS: only for the local emulator (UseDevelopmentEmulator).
	PlainTCP bool
	// TLSConfig is used for TLS; its ServerName defaults to the host.
	TLSConfig *tls.Config
	// Dial opens the TCP connection. Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Retry is the backoff policy of the retries callers make through Do.
	Retry iothub.RetryOptions
	// Logger receives debug records; never tokens.
	Logger *slog.Logger
}

// Conn is a lazily opened, self-healing AMQP connection. It is safe for
// concurrent use.
type Conn struct {
	cfg   Config
	host  string // without port
	addr  string // host:port
	retry iothub.RetryOptions

	mu     sync.Mutex
	cur    *generation
	gen    uint64
	closed bool
	dialMu sync.Mutex // one dial at a time
}

// generation is one underlying connection and what was set up on it.
type generation struct {
	id   uint64
	conn *amqp.Conn
	done chan struct{} // closed when this generation is retired

	cbsMu  sync.Mutex
	cbs    *cbsLinks
	claims map[string]chan struct{} // audiences kept renewed; closing the channel stops the renewal
}

// New validates cfg.
func New(cfg Config) (*Conn, error) {
	if cfg.HostName == "" {
		return nil, errors.New("iothub: AMQP host name is empty")
	}
	if cfg.Credential == nil {
		return nil, errors.New("iothub: AMQP credential is nil")
	}
	host, port, err := net.SplitHostPort(cfg.HostName)
	if err != nil {
		host, port = strings.Trim(cfg.HostName, "[]"), DefaultPort
	}
	return &Conn{cfg: cfg, host: host, addr: net.JoinHostPort(host, port), retry: cfg.Retry.WithDefaults()}, nil
}

// HostName returns the host (and port) the Conn was configured with.
func (c *Conn) HostName() string { return c.cfg.HostName }

// ErrClosed is returned by calls on a closed Conn.
var ErrClosed = errors.New("iothub: AMQP connection closed")

// Link is an AMQP connection generation handed to a caller: a caller that
// meets a connection failure passes it back to Reset, so that the
// connection is replaced once however many callers noticed.
type Link struct {
	Conn       *amqp.Conn
	Generation uint64
	// Done is closed when this generation is retired.
	Done <-chan struct{}
}

// Get returns the live connection, dialling it if there is none.
func (c *Conn) Get(ctx context.Context) (Link, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Link{}, ErrClosed
	}
	if g := c.cur; g != nil {
		select {
		case <-g.conn.Done():
			// The peer or the network ended it: replace it now rather than
			// hand out a connection every link of which will fail.
			c.mu.Unlock()
			c.Reset(g.id)
		default:
			c.mu.Unlock()
			return Link{Conn: g.conn, Generation: g.id, Done: g.done}, nil
		}
	} else {
		c.mu.Unlock()
	}

	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	c.mu.Lock()
	if g := c.cur; g != nil || c.closed {
		c.mu.Unlock()
		if g == nil {
			return Link{}, ErrClosed
		}
		return Link{Conn: g.conn, Generation: g.id, Done: g.done}, nil
	}
	c.mu.Unlock()

	conn, err := c.dial(ctx)
	if err != nil {
		return Link{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		conn.Close()
		return Link{}, ErrClosed
	}
	c.gen++
	g := &generation{id: c.gen, conn: conn, done: make(chan struct{}), claims: map[string]chan struct{}{}}
	c.cur = g
	c.log(ctx, "iothub: AMQP connection opened", slog.String("host", c.addr), slog.Uint64("generation", g.id))
	return Link{Conn: g.conn, Generation: g.id, Done: g.done}, nil
}

func (c *Conn) dial(ctx context.Context) (*amqp.Conn, error) {
	dial := c.cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("iothub: dialling %s: %w", c.addr, err)
	}
	if !c.cfg.PlainTCP {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.cfg.TLSConfig != nil {
			tc = c.cfg.TLSConfig.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = c.host
		}
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("iothub: TLS handshake with %s: %w", c.addr, err)
		}
		nc = tlsConn
	}
	conn, err := amqp.NewConn(ctx, nc, &amqp.ConnOptions{
		SASLType:    amqp.SASLTypeAnonymous(),
		HostName:    c.host,
		IdleTimeout: 4 * time.Minute,
		Properties:  map[string]any{"product": "iothub-go"},
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("iothub: opening AMQP connection to %s: %w", c.addr, err)
	}
	return conn, nil
}

// Reset retires generation gen if it is still the current one, closing its
// connection; the next Get dials anew. Callers pass the generation they
// used, so that concurrent failures cause one reconnect.
func (c *Conn) Reset(gen uint64) {
	c.mu.Lock()
	g := c.cur
	if g == nil || g.id != gen {
		c.mu.Unlock()
		return
	}
	c.cur = nil
	c.mu.Unlock()
	c.retire(g)
	c.log(context.Background(), "iothub: AMQP connection reset", slog.Uint64("generation", gen))
}

func (c *Conn) retire(g *generation) {
	close(g.done)
	_ = g.conn.Close()
}

// Close closes the connection; later calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	g := c.cur
	c.cur = nil
	c.mu.Unlock()
	if g != nil {
		c.retire(g)
	}
	return nil
}

// Sleep waits the backoff before retry number retry (1 for the first).
func (c *Conn) Sleep(ctx context.Context, retry int, err error) error {
	var ra time.Duration
	var he *iothub.Error
	if errors.As(err, &he) {
		ra = he.RetryAfter
	}
	return iothub.Sleep(ctx, c.retry.Backoff(retry, ra))
}

// MaxRetries is the number of retries callers should make.
func (c *Conn) MaxRetries() int { return c.retry.MaxRetries }

func (c *Conn) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if c.cfg.Logger == nil || !c.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}
