package amqpserver

import (
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// outgoingWindow is what we advertise; we never hold transfers back on it.
const outgoingWindow = 1 << 20

// session is one AMQP session: its windows, links and unsettled deliveries.
// Every field is guarded by the connection's mutex.
type session struct {
	c      *Conn
	local  uint16
	remote uint16

	// Incoming side, counted in transfer frames.
	nextIncomingID uint32
	incomingWindow uint32 // what is left of our advertised window

	// Outgoing side.
	nextOutgoingID       uint32
	remoteIncomingWindow uint32
	remoteWindowAdvert   uint32 // the client's last incoming-window
	nextDeliveryID       uint32

	handleMax  uint32
	links      map[uint32]*Link // by the client's handle
	ourHandles map[uint32]*Link // by our handle

	unsettledOut map[uint32]*OutgoingDelivery // deliveries we sent, by delivery-id
	unsettledIn  map[uint32]*Delivery         // deliveries we received, by delivery-id

	// wake is closed (and replaced) whenever credit, windows or link state
	// change, so blocked senders re-check.
	wake  chan struct{}
	ended bool
}

func (c *Conn) onBegin(ch uint16, b *encoding.Begin) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return nil
	}
	if b.RemoteChannel != nil {
		return closeWith(CondNotAllowed, "begin with remote-channel: server-initiated sessions are not used")
	}
	if ch > c.channelMax {
		return closeWith(CondFramingError, "channel %d exceeds channel-max %d", ch, c.channelMax)
	}
	if _, dup := c.sessions[ch]; dup {
		return closeWith(CondIllegalState, "channel %d already has a session", ch)
	}
	var local uint16
	for {
		if _, used := c.localChans[local]; !used {
			break
		}
		local++
	}
	s := &session{
		c:                    c,
		local:                local,
		remote:               ch,
		nextIncomingID:       b.NextOutgoingID,
		incomingWindow:       c.srv.opts.SessionWindow,
		remoteIncomingWindow: b.IncomingWindow,
		remoteWindowAdvert:   b.IncomingWindow,
		handleMax:            min(b.HandleMax, c.srv.opts.HandleMax),
		links:                make(map[uint32]*Link),
		ourHandles:           make(map[uint32]*Link),
		unsettledOut:         make(map[uint32]*OutgoingDelivery),
		unsettledIn:          make(map[uint32]*Delivery),
		wake:                 make(chan struct{}),
	}
	c.sessions[ch] = s
	c.localChans[local] = s
	remote := ch
	c.sendLocked(local, &encoding.Begin{
		RemoteChannel:  &remote,
		NextOutgoingID: s.nextOutgoingID,
		IncomingWindow: s.incomingWindow,
		OutgoingWindow: outgoingWindow,
		HandleMax:      s.handleMax,
	}, nil)
	return nil
}

func (s *session) onEnd(e *encoding.End) error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.ended {
		c.sendLocked(s.local, &encoding.End{}, nil)
	}
	s.terminateLocked(ErrLinkDetached)
	delete(c.sessions, s.remote)
	delete(c.localChans, s.local)
	return nil
}

// terminateLocked ends every link of the session.
func (s *session) terminateLocked(err error) {
	s.ended = true
	for _, l := range s.ourHandles {
		l.terminateLocked(err, nil)
	}
	for _, l := range s.links {
		l.terminateLocked(err, nil)
	}
	s.broadcastLocked()
}

func (s *session) broadcastLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// flowLocked builds a flow frame carrying the session state.
func (s *session) flowLocked() *encoding.Flow {
	nid := s.nextIncomingID
	return &encoding.Flow{
		NextIncomingID: &nid,
		IncomingWindow: s.incomingWindow,
		NextOutgoingID: s.nextOutgoingID,
		OutgoingWindow: outgoingWindow,
	}
}

func (s *session) onFlow(f *encoding.Flow) error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// remote-incoming-window = next-incoming-id(remote) + incoming-window(remote) - next-outgoing-id(ours)
	base := uint32(0) // our initial next-outgoing-id
	if f.NextIncomingID != nil {
		base = *f.NextIncomingID
	}
	s.remoteIncomingWindow = base + f.IncomingWindow - s.nextOutgoingID
	s.remoteWindowAdvert = f.IncomingWindow
	if f.Handle == nil {
		if f.Echo {
			c.sendLocked(s.local, s.flowLocked(), nil)
		}
		s.broadcastLocked()
		return nil
	}
	l := s.links[*f.Handle]
	if l == nil {
		return closeWith(CondUnattachedHandle, "flow for unattached handle %d", *f.Handle)
	}
	if l.terminated {
		return nil
	}
	if l.outgoing {
		l.onSenderFlowLocked(f)
	} else {
		l.onReceiverFlowLocked(f)
	}
	s.broadcastLocked()
	return nil
}

// onDisposition settles deliveries in either direction.
func (s *session) onDisposition(d *encoding.Disposition) error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	span := d.Last - d.First
	if d.Role == encoding.RoleReceiver {
		// The client, as receiver, reports on deliveries we sent.
		outcome := outcomeOf(d.State)
		settle := func(id uint32, od *OutgoingDelivery) {
			if d.Settled || outcome != nil {
				delete(s.unsettledOut, id)
				od.completeLocked(outcome, nil)
			}
		}
		if int64(span) < int64(len(s.unsettledOut)) {
			for i := uint32(0); ; i++ {
				if od := s.unsettledOut[d.First+i]; od != nil {
					settle(d.First+i, od)
				}
				if i == span {
					break
				}
			}
		} else {
			for id, od := range s.unsettledOut {
				if id-d.First <= span {
					settle(id, od)
				}
			}
		}
		if !d.Settled && outcome != nil {
			// The client is in rcv-settle-mode second: it waits for us to settle.
			c.sendLocked(s.local, &encoding.Disposition{
				Role: encoding.RoleSender, First: d.First, Last: d.Last, HasLast: true,
				Settled: true, State: d.State,
			}, nil)
		}
		return nil
	}
	// The client, as sender, settles deliveries we received in rcv-settle-mode second.
	if !d.Settled {
		return nil
	}
	if int64(span) < int64(len(s.unsettledIn)) {
		for i := uint32(0); ; i++ {
			delete(s.unsettledIn, d.First+i)
			if i == span {
				break
			}
		}
	} else {
		for id := range s.unsettledIn {
			if id-d.First <= span {
				delete(s.unsettledIn, id)
			}
		}
	}
	return nil
}

// allocHandleLocked returns the lowest free handle of ours.
func (s *session) allocHandleLocked() (uint32, bool) {
	for h := uint32(0); h <= s.handleMax; h++ {
		if _, used := s.ourHandles[h]; !used {
			return h, true
		}
	}
	return 0, false
}

// countIncomingLocked accounts for one transfer frame against our window.
func (s *session) countIncomingLocked() error {
	if s.incomingWindow == 0 {
		return closeWith(CondWindowViolation, "transfer beyond the session's incoming window")
	}
	s.nextIncomingID++
	s.incomingWindow--
	if s.incomingWindow < s.c.srv.opts.SessionWindow/2 {
		s.incomingWindow = s.c.srv.opts.SessionWindow
		s.c.sendLocked(s.local, s.flowLocked(), nil)
	}
	return nil
}
