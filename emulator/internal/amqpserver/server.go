package amqpserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Identity is who a connection authenticated as, set by SASL and, later,
// by a claims-based-security node through Conn.SetIdentity.
type Identity struct {
	// Mechanism is the SASL mechanism used: "ANONYMOUS" or "PLAIN", or
	// whatever a node sets (for example "CBS").
	Mechanism string
	// Name is the authenticated principal, such as "iothubowner@sas.root.myhub".
	Name string
	// Rights are the permissions granted, in the emulator's own vocabulary.
	Rights []string
	// Expires is when the credential stops being valid; zero means never.
	Expires time.Time
	// Scope is the part of the server's addresses the rights cover: a
	// lower-case path without leading or trailing "/" (such as an Event
	// Hub's entity name), or empty for all of them.
	Scope string
}

// SASLError refuses a SASL exchange with a specific sasl-outcome code. Any
// other error returned by ServerOptions.SASLPlain refuses with code 1 (auth).
type SASLError struct {
	// Code is the sasl-outcome code: 1 auth, 2 sys, 3 sys-perm, 4 sys-temp.
	Code uint8
	// Reason is logged, never sent.
	Reason string
}

// Error implements the error interface.
func (e *SASLError) Error() string { return "sasl: " + e.Reason }

// ServerOptions configures a Server. A nil *ServerOptions accepts the defaults.
type ServerOptions struct {
	// ContainerID is sent in the open frame.
	// Default: "iothub-emulator".
	ContainerID string

	// MaxFrameSize is the largest frame the server accepts; larger frames close
	// the connection with amqp:connection:framing-error. Values below 512 are raised to 512.
	// Default: 65536.
	MaxFrameSize uint32

	// IdleTimeout is advertised in open; a client silent for longer is closed
	// with amqp:resource-limit-exceeded. Negative disables it.
	// Default: 4 minutes.
	IdleTimeout time.Duration

	// HandshakeTimeout bounds protocol headers, SASL and open.
	// Default: 30 seconds.
	HandshakeTimeout time.Duration

	// CloseTimeout bounds how long a closing connection waits for the client's close.
	// Default: 2 seconds.
	CloseTimeout time.Duration

	// ChannelMax is the highest session channel number accepted.
	// Default: 255.
	ChannelMax uint16

	// HandleMax is the highest link handle accepted per session.
	// Default: 4095.
	HandleMax uint32

	// SessionWindow is the incoming window, in transfer frames, advertised per session.
	// Default: 5000.
	SessionWindow uint32

	// LinkCredit is the credit granted to each link on which the client sends;
	// messages a node has not settled yet count against it.
	// Default: 500.
	LinkCredit uint32

	// MaxMessageSize is the largest message accepted, advertised in attach.
	// Default: 16 MiB.
	MaxMessageSize uint64

	// DisableAnonymous refuses SASL ANONYMOUS.
	// Default: false (ANONYMOUS accepted).
	DisableAnonymous bool

	// RequireSASL refuses connections that skip SASL (AMQP protocol id 0 first).
	// Default: false.
	RequireSASL bool

	// SASLPlain checks a SASL PLAIN username and password (for IoT Hub,
	// "<policy>@sas.root.<hub>" and a SAS token). Nil disables PLAIN.
	// Return a *SASLError to choose the outcome code.
	// Default: nil.
	SASLPlain func(ctx context.Context, username, password string) (Identity, error)

	// Logger receives connection-level events.
	// Default: a logger that discards everything.
	Logger *slog.Logger
}

func (o *ServerOptions) withDefaults() ServerOptions {
	var v ServerOptions
	if o != nil {
		v = *o
	}
	if v.ContainerID == "" {
		v.ContainerID = "iothub-emulator"
	}
	if v.MaxFrameSize == 0 {
		v.MaxFrameSize = 65536
	}
	if v.MaxFrameSize < 512 {
		v.MaxFrameSize = 512
	}
	if v.IdleTimeout == 0 {
		v.IdleTimeout = 4 * time.Minute
	}
	if v.HandshakeTimeout <= 0 {
		v.HandshakeTimeout = 30 * time.Second
	}
	if v.CloseTimeout <= 0 {
		v.CloseTimeout = 2 * time.Second
	}
	if v.ChannelMax == 0 {
		v.ChannelMax = 255
	}
	if v.HandleMax == 0 {
		v.HandleMax = 4095
	}
	if v.SessionWindow == 0 {
		v.SessionWindow = 5000
	}
	if v.LinkCredit == 0 {
		v.LinkCredit = 500
	}
	if v.MaxMessageSize == 0 {
		v.MaxMessageSize = 16 << 20
	}
	if v.Logger == nil {
		v.Logger = slog.New(slog.DiscardHandler)
	}
	return v
}

// Server is an AMQP 1.0 server engine. Nodes are registered with Handle;
// connections are handed over with ServeConn. It has no listener of its own.
type Server struct {
	opts   ServerOptions
	router router
	hook   atomic.Pointer[FrameHook]

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a Server with no nodes.
func NewServer(opts *ServerOptions) *Server {
	return &Server{opts: opts.withDefaults(), conns: make(map[*Conn]struct{})}
}

// ServeConn runs the AMQP protocol on nc until the connection ends, then
// closes nc. nc must still yield the client's 8-byte protocol header.
// Cancelling ctx closes the connection with amqp:connection:forced.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return ErrServerClosed
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	stop := context.AfterFunc(ctx, func() {
		c.die()
		c.Close(&Error{Condition: CondConnectionForced, Description: "server is stopping the connection"})
	})
	defer stop()
	return c.serve()
}

// goTracked runs f on a goroutine that Shutdown waits for. It returns false,
// without running f, once the server is closed.
func (s *Server) goTracked(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// Conns returns the connections being served.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Shutdown closes every connection with amqp:connection:forced and waits for
// the engine's goroutines to end, or for ctx. Later ServeConn calls fail.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, c := range s.Conns() {
		c.die() // release stalled frames first: they hold the connection's lock
		c.Close(&Error{Condition: CondConnectionForced, Description: "the server is shutting down"})
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Stop waiting for polite closes; cut the sockets.
		for _, c := range s.Conns() {
			c.die()
			c.nc.Close()
		}
		<-done
		return ctx.Err()
	}
}

// Close is Shutdown with a bound of CloseTimeout plus one second.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CloseTimeout+time.Second)
	defer cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
