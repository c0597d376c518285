package amqpserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// Conn is one client connection. Nodes reach it through Link.Conn to read
// or set per-connection state, such as the identity a CBS token establishes.
type Conn struct {
	srv *Server
	nc  net.Conn
	log *slog.Logger
	br  *bufio.Reader
	fw  *frameWriter

	ctx    context.Context
	cancel context.CancelFunc

	// dying is closed, without taking mu, when teardown starts.
	dying   chan struct{}
	dieOnce sync.Once

	// rbuf holds the frame being decoded; reused for every frame.
	rbuf []byte

	mu          sync.Mutex
	identity    Identity
	values      map[any]any
	sessions    map[uint16]*session // by the client's channel
	localChans  map[uint16]*session // by our channel
	opened      bool                // open exchanged
	closeSent   bool
	closed      bool
	peerOpen    *encoding.Open
	peerMaxOut  uint32 // largest frame we may send
	peerIdle    time.Duration
	channelMax  uint16
	remoteError *Error

	// pend coalesces the accepted outcomes the read loop settles for
	// consecutive deliveries into one disposition frame (c.mu).
	pend struct {
		s           *session
		first, last uint32
		n           int
	}
}

func newConn(s *Server, nc net.Conn) *Conn {
	c := &Conn{
		srv:        s,
		nc:         nc,
		log:        s.opts.Logger.With("remote", nc.RemoteAddr().String()),
		br:         bufio.NewReaderSize(nc, 64<<10),
		fw:         newFrameWriter(nc),
		sessions:   make(map[uint16]*session),
		localChans: make(map[uint16]*session),
		peerMaxOut: encoding.MinMaxFrameSize,
		dying:      make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Context is cancelled when the connection ends.
func (c *Conn) Context() context.Context { return c.ctx }

// NetConn is the network connection the AMQP connection runs on, for
// what only it knows (the TLS client certificate). Reading or writing it
// breaks the connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// RemoteAddr is the client's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// ContainerID is the client's container-id from its open frame.
func (c *Conn) ContainerID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peerOpen == nil {
		return ""
	}
	return c.peerOpen.ContainerID
}

// Hostname is the hostname the client put in its open frame.
func (c *Conn) Hostname() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peerOpen == nil {
		return ""
	}
	return c.peerOpen.Hostname
}

// Identity returns who the connection is authenticated as.
func (c *Conn) Identity() Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.identity
}

// SetIdentity replaces the connection's identity (a CBS node does this after
// a successful put-token).
func (c *Conn) SetIdentity(id Identity) {
	c.mu.Lock()
	c.identity = id
	c.mu.Unlock()
}

// Value returns the per-connection value stored under key, or nil.
func (c *Conn) Value(key any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[key]
}

// SetValue stores v under key for the life of the connection; nil deletes it.
// Use an unexported key type, as with context values.
func (c *Conn) SetValue(key, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v == nil {
		delete(c.values, key)
		return
	}
	if c.values == nil {
		c.values = make(map[any]any)
	}
	c.values[key] = v
}

// Close sends close with e (nil for a clean close) and ends the connection
// once the client answers or CloseTimeout passes. It does not wait.
func (c *Conn) Close(e *Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(e)
}

func (c *Conn) closeLocked(e *Error) {
	if c.closeSent || c.closed {
		return
	}
	c.closeSent = true
	if !c.opened {
		// No open exchanged yet: nothing to say, just stop the handshake.
		c.nc.SetReadDeadline(time.Now())
		return
	}
	c.sendLocked(0, &encoding.Close{Error: e.wire()}, nil)
	// Bound the wait for the client's close; the reader ends on the deadline.
	c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.CloseTimeout))
}

// sendLocked queues a frame; c.mu must be held so frames leave in the order
// the state changes were made.
func (c *Conn) sendLocked(ch uint16, p encoding.Performative, payload []byte) {
	if c.pend.n > 0 {
		c.flushPendLocked()
	}
	c.writeLocked(ch, p, payload)
}

func (c *Conn) writeLocked(ch uint16, p encoding.Performative, payload []byte) {
	if h := c.srv.hook.Load(); h != nil {
		if c.applyHook(*h, Outbound, ch, p) {
			return
		}
	}
	_ = c.fw.append(encoding.FrameTypeAMQP, ch, p, payload)
}

// pendAcceptLocked records that delivery id of s is accepted and settled,
// to be sent with its neighbours in one disposition.
func (c *Conn) pendAcceptLocked(s *session, id uint32) {
	if c.pend.n > 0 && (c.pend.s != s || id != c.pend.last+1) {
		c.flushPendLocked()
	}
	if c.pend.n == 0 {
		c.pend.s, c.pend.first = s, id
	}
	c.pend.last = id
	c.pend.n++
}

func (c *Conn) flushPendLocked() {
	p := c.pend
	c.pend.n, c.pend.s = 0, nil
	if p.s.ended {
		return
	}
	c.writeLocked(p.s.local, &encoding.Disposition{
		Role: encoding.RoleReceiver, First: p.first, Last: p.last, HasLast: true,
		Settled: true, State: stateAccepted,
	}, nil)
}

// frameBuffered reports whether a whole frame is already buffered, so the
// next read will not block.
func (c *Conn) frameBuffered() bool {
	n := c.br.Buffered()
	if n < encoding.HeaderSize {
		return false
	}
	hb, _ := c.br.Peek(encoding.HeaderSize)
	return uint32(n) >= binary.BigEndian.Uint32(hb)
}

// connError ends the read loop with a close carrying e.
type connError struct {
	e        *Error
	sendOpen bool // the client never got our open; send one before close
	abrupt   bool // do not wait for the client's close
}

// Error implements the error interface.
func (e *connError) Error() string { return e.e.Error() }

func closeWith(cond, format string, args ...any) error {
	return &connError{e: &Error{Condition: cond, Description: fmt.Sprintf(format, args...)}}
}

// serve runs the connection to its end.
func (c *Conn) serve() error {
	go c.fw.run(func() time.Duration {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.peerIdle
	})
	err := c.handshake()
	if err == nil {
		err = c.readLoop()
	}
	c.finish(err)
	return nil
}

func (c *Conn) die() { c.dieOnce.Do(func() { close(c.dying) }) }

// finish tears the connection down after the read loop ended with err.
func (c *Conn) finish(err error) {
	c.die()
	var ce *connError
	waitForClose := false
	c.mu.Lock()
	if errors.As(err, &ce) {
		if !c.closeSent && (c.opened || ce.sendOpen) {
			if !c.opened {
				c.opened = true
				c.sendLocked(0, c.ourOpen(), nil)
			}
			c.closeLocked(ce.e)
			waitForClose = !ce.abrupt
		}
		c.log.Debug("amqp connection closed by server", "error", ce.e)
	} else if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.log.Debug("amqp connection ended", "error", err)
	}
	c.closed = true
	sessions := c.localChans
	c.sessions, c.localChans = map[uint16]*session{}, map[uint16]*session{}
	for _, s := range sessions {
		s.terminateLocked(ErrConnClosed)
	}
	c.mu.Unlock()
	c.cancel()
	c.fw.close()
	if waitForClose {
		// Read (and drop) until the client closes its side, so our close
		// frame is not lost to a reset.
		c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.CloseTimeout))
		_, _ = io.Copy(io.Discard, c.br)
	}
	c.nc.Close()
}

func (c *Conn) ourOpen() *encoding.Open {
	o := &encoding.Open{
		ContainerID:  c.srv.opts.ContainerID,
		MaxFrameSize: c.srv.opts.MaxFrameSize,
		ChannelMax:   c.srv.opts.ChannelMax,
	}
	if c.srv.opts.IdleTimeout > 0 {
		o.IdleTimeout = uint32(c.srv.opts.IdleTimeout / time.Millisecond)
	}
	return o
}

// readFrame reads one frame into c.rbuf. max is the largest size accepted.
func (c *Conn) readFrame(max uint32) (encoding.FrameHeader, []byte, error) {
	hb, err := c.br.Peek(encoding.HeaderSize)
	if err != nil {
		return encoding.FrameHeader{}, nil, err
	}
	h, err := encoding.ParseFrameHeader(hb)
	if err != nil {
		return h, nil, &connError{e: &Error{Condition: CondFramingError, Description: err.Error()}}
	}
	if h.Size > max {
		return h, nil, &connError{e: &Error{Condition: CondFramingError,
			Description: fmt.Sprintf("frame of %d bytes exceeds the maximum frame size %d", h.Size, max)}}
	}
	c.br.Discard(encoding.HeaderSize)
	n := int(h.Size) - encoding.HeaderSize
	if cap(c.rbuf) < n {
		c.rbuf = make([]byte, n)
	}
	body := c.rbuf[:n]
	if _, err := io.ReadFull(c.br, body); err != nil {
		return h, nil, err
	}
	return h, body[int(h.DataOffset)*4-encoding.HeaderSize:], nil
}

// readLoop handles frames until the connection ends.
func (c *Conn) readLoop() error {
	idle := c.srv.opts.IdleTimeout
	var deadlineSet time.Time
	for {
		if idle > 0 {
			// Refreshing at most every idle/16 keeps the bound within
			// idle*15/16..idle without a timer update per frame.
			if now := time.Now(); now.Sub(deadlineSet) > idle/16 {
				c.mu.Lock()
				if !c.closeSent {
					c.nc.SetReadDeadline(now.Add(idle))
				}
				c.mu.Unlock()
				deadlineSet = now
			}
		}
		if !c.frameBuffered() {
			// About to wait for the client: send what was coalesced.
			c.mu.Lock()
			if c.pend.n > 0 {
				c.flushPendLocked()
			}
			c.mu.Unlock()
		}
		h, body, err := c.readFrame(c.srv.opts.MaxFrameSize)
		if err != nil {
			c.mu.Lock()
			closing := c.closeSent
			c.mu.Unlock()
			if errors.Is(err, os.ErrDeadlineExceeded) && !closing {
				return &connError{e: &Error{Condition: CondResourceLimitExceeded,
					Description: fmt.Sprintf("no frame received for %v (idle timeout)", idle)}, abrupt: true}
			}
			return err
		}
		if h.Type != encoding.FrameTypeAMQP {
			return closeWith(CondFramingError, "frame type %d after open", h.Type)
		}
		p, err := encoding.DecodeBody(h.Type, body)
		if err != nil {
			return closeWith(CondDecodeError, "%v", err)
		}
		if p == nil {
			continue // heartbeat
		}
		if hook := c.srv.hook.Load(); hook != nil {
			if c.applyHook(*hook, Inbound, h.Channel, p) {
				continue
			}
		}
		if done, err := c.dispatch(h.Channel, p); err != nil || done {
			return err
		}
	}
}

// dispatch handles one performative; done reports the client's close.
func (c *Conn) dispatch(ch uint16, p encoding.Performative) (done bool, err error) {
	switch p := p.(type) {
	case *encoding.Close:
		c.mu.Lock()
		c.remoteError = fromWire(p.Error)
		if !c.closeSent {
			c.closeSent = true
			c.sendLocked(0, &encoding.Close{}, nil)
		}
		c.mu.Unlock()
		return true, nil
	case *encoding.Open:
		return false, closeWith(CondIllegalState, "second open frame")
	case *encoding.Begin:
		return false, c.onBegin(ch, p)
	}
	c.mu.Lock()
	s := c.sessions[ch]
	closing := c.closeSent
	c.mu.Unlock()
	if closing {
		return false, nil // only the client's close matters now
	}
	if s == nil {
		return false, closeWith(CondIllegalState, "frame on channel %d with no session", ch)
	}
	switch p := p.(type) {
	case *encoding.Transfer:
		return false, s.onTransfer(p)
	case *encoding.Disposition:
		return false, s.onDisposition(p)
	case *encoding.Flow:
		return false, s.onFlow(p)
	case *encoding.Attach:
		return false, s.onAttach(p)
	case *encoding.Detach:
		return false, s.onDetach(p)
	case *encoding.End:
		return false, s.onEnd(p)
	}
	return false, closeWith(CondIllegalState, "unexpected %T", p)
}
