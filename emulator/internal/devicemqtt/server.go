package devicemqtt

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// CONNACK return codes of MQTT 3.1.1.
const (
	ConnAccepted              byte = 0
	ConnBadProtocolVersion    byte = 1
	ConnIdentifierRejected    byte = 2
	ConnServerUnavailable     byte = 3
	ConnBadUsernameOrPassword byte = 4
	ConnNotAuthorized         byte = 5
)

// RefusedError refuses a CONNECT with a CONNACK return code. Reason is
// logged, never sent.
type RefusedError struct {
	Code   byte
	Reason string
}

func (e *RefusedError) Error() string { return "devicemqtt: connection refused: " + e.Reason }

// ConnectInfo is what a device presents when it connects.
type ConnectInfo struct {
	ClientID string
	Username string
	Password []byte
	// PeerCertificates are the client certificates of the TLS handshake,
	// if there was one and the client sent any.
	PeerCertificates []*x509.Certificate
}

// Identity is who a connection is, as Hub.Authenticate established it.
type Identity struct {
	Key sessions.Key
	// Expires is when the credential stops being valid: the connection is
	// closed then. Zero means never.
	Expires time.Time
	// ModelID is the IoT Plug and Play model id of the user name's
	// model-id parameter, if any.
	ModelID string
}

// Message is a telemetry message a device published.
type Message struct {
	Body                                      []byte
	Properties                                map[string]string
	MessageID, CorrelationID, UserID, To      string
	ContentType, ContentEncoding, CreationUTC string
}

// Outcome is how a device settled a C2D message.
type Outcome int

// The outcomes: PUBACK completes; a connection that ends first abandons.
const (
	Complete Outcome = iota
	Abandon
)

// Hub is the hub core as the MQTT front end sees it.
type Hub interface {
	// Authenticate checks a CONNECT and returns the identity, or an
	// error: a *RefusedError chooses the CONNACK code (5 otherwise).
	Authenticate(ctx context.Context, info ConnectInfo) (Identity, error)
	// Sessions is the hub's device-session layer.
	Sessions() *sessions.Manager
	// Telemetry appends a device's message to the built-in endpoint and
	// returns once it is stored.
	Telemetry(ctx context.Context, key sessions.Key, m *Message) error
	// ReceiveC2D waits for the next message of key's queue, locked.
	ReceiveC2D(ctx context.Context, key sessions.Key) (*devicebound.Message, error)
	// SettleC2D completes or abandons a locked message.
	SettleC2D(key sessions.Key, lockToken string, how Outcome) error
	// DeviceTwin returns the twin as the device sees it:
	// {"desired":{…,"$version":n},"reported":{…,"$version":m}}.
	DeviceTwin(key sessions.Key) ([]byte, error)
	// UpdateReported merges a JSON patch into the reported properties
	// and returns their new $version; an *iothub.Error for bad patches.
	UpdateReported(key sessions.Key, patch []byte) (int64, error)
	// Touch records activity of key (lastActivityTime).
	Touch(key sessions.Key)
}

// Options configure a Server. A nil *Options accepts the defaults.
type Options struct {
	// MaxMessageSize is the largest telemetry payload. Default: 256 KB.
	MaxMessageSize int
	// MaxKeepAlive is the longest keep-alive the hub grants; a client
	// asking none or more gets it. Default: 1767 s, as IoT Hub.
	MaxKeepAlive time.Duration
	// ConnectTimeout bounds the wait for CONNECT. Default: 10 s.
	ConnectTimeout time.Duration
	// Logger receives diagnostics (never tokens). Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultMaxMessageSize = 256 * 1024
	DefaultMaxKeepAlive   = 1767 * time.Second
)

// Server serves MQTT device connections for one hub. It is safe for
// concurrent use.
type Server struct {
	hub  Hub
	opts Options

	mu     sync.Mutex
	conns  map[*conn]struct{}
	kept   map[sessions.Key]subscriptions // CleanSession 0 subscriptions of absent devices
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a Server for hub.
func NewServer(hub Hub, opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxKeepAlive <= 0 {
		o.MaxKeepAlive = DefaultMaxKeepAlive
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{hub: hub, opts: o, conns: map[*conn]struct{}{}, kept: map[sessions.Key]subscriptions{}}
}

// ErrServerClosed is returned by ServeConn after Close.
var ErrServerClosed = errors.New("devicemqtt: server closed")

// ServeConn serves one connection until it ends, and closes it.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, peerCerts []*x509.Certificate) error {
	c := newConn(s, nc, peerCerts)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return ErrServerClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	return c.serve(ctx)
}

// Close closes every connection and waits for them to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(ErrServerClosed)
	}
	s.wg.Wait()
}

// keep remembers the subscriptions of a CleanSession 0 device that left.
func (s *Server) keep(k sessions.Key, subs subscriptions) {
	s.mu.Lock()
	s.kept[k] = subs
	s.mu.Unlock()
}

// resume returns (and forgets) the kept subscriptions of k, or those of a
// live connection of k that the new one is about to take over; clean drops
// them instead.
func (s *Server) resume(k sessions.Key, clean bool) (subscriptions, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs, ok := s.kept[k]
	delete(s.kept, k)
	if !ok {
		for c := range s.conns {
			c.mu.Lock()
			if c.session != nil && c.id.Key == k {
				subs, ok = c.subs, true
			}
			c.mu.Unlock()
		}
	}
	if clean {
		return subscriptions{}, false
	}
	return subs, ok
}
