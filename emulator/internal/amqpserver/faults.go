package amqpserver

import (
	"fmt"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// Direction says which way a frame travels.
type Direction int

// Frame directions seen by a FrameHook.
const (
	Inbound  Direction = iota // client to server
	Outbound                  // server to client
)

// FrameInfo describes a frame to a FrameHook.
type FrameInfo struct {
	Conn      *Conn
	Direction Direction
	Channel   uint16
	// Performative is the frame's kind: "open", "begin", "attach", "flow",
	// "transfer", "disposition", "detach", "end" or "close".
	Performative string
}

// FrameAction is what a FrameHook asks the engine to do with a frame.
type FrameAction struct {
	// Delay holds the frame (and, as frames are ordered, all after it on the
	// connection) for this long before it is handled or sent.
	Delay time.Duration
	// Stall holds the frame until the connection is torn down: its socket
	// fails, the ServeConn context is cancelled or the server shuts down.
	// An outbound stall blocks every operation on the connection meanwhile.
	Stall bool
	// Drop discards the frame. The protocol state then disagrees with the
	// client's, which is the point of the fault.
	Drop bool
}

// FrameHook inspects each AMQP frame (not heartbeats or SASL frames) and
// returns the fault to inject; the zero FrameAction lets it pass. It runs
// while the connection's state is locked, so it must not call the engine.
type FrameHook func(FrameInfo) FrameAction

// SetFrameHook installs h for every connection; nil removes it.
func (s *Server) SetFrameHook(h FrameHook) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&h)
}

// applyHook runs the hook; true means drop the frame.
func (c *Conn) applyHook(h FrameHook, dir Direction, ch uint16, p encoding.Performative) bool {
	a := h(FrameInfo{Conn: c, Direction: dir, Channel: ch, Performative: performativeName(p)})
	switch {
	case a.Stall:
		<-c.ctxOrClose()
	case a.Delay > 0:
		t := time.NewTimer(a.Delay)
		select {
		case <-t.C:
		case <-c.ctxOrClose():
			t.Stop()
		}
	}
	return a.Drop
}

// ctxOrClose is done when the connection is being torn down, which does not
// need the connection's lock (a stalled outbound frame holds it).
func (c *Conn) ctxOrClose() <-chan struct{} { return c.dying }

func performativeName(p encoding.Performative) string {
	switch p.(type) {
	case *encoding.Open:
		return "open"
	case *encoding.Begin:
		return "begin"
	case *encoding.Attach:
		return "attach"
	case *encoding.Flow:
		return "flow"
	case *encoding.Transfer:
		return "transfer"
	case *encoding.Disposition:
		return "disposition"
	case *encoding.Detach:
		return "detach"
	case *encoding.End:
		return "end"
	case *encoding.Close:
		return "close"
	}
	return fmt.Sprintf("%T", p)
}

// DetachLinks detaches every link for which match returns true with e, and
// returns how many it detached.
func (s *Server) DetachLinks(match func(*Link) bool, e *Error) int {
	n := 0
	for _, c := range s.Conns() {
		for _, l := range c.Links() {
			if match(l) && l.Detach(e) == nil {
				n++
			}
		}
	}
	return n
}

// Links returns the connection's attached links.
func (c *Conn) Links() []*Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Link
	for _, s := range c.localChans {
		for _, l := range s.ourHandles {
			if l.attached && !l.terminated {
				out = append(out, l)
			}
		}
	}
	return out
}
