package amqpserver

import (
	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// MessageHandler receives each message that arrives on an incoming link. It
// runs on the connection's read goroutine, so it must not block: return an
// Outcome to settle at once, or nil and call Delivery.Settle later from any
// goroutine. Messages the client sent pre-settled need no outcome; whatever
// is returned for them is ignored.
type MessageHandler func(d *Delivery) Outcome

// Delivery is a message received on an incoming link.
type Delivery struct {
	// Message is the decoded message.
	Message *amqp.Message

	link       *Link
	id         uint32
	tag        []byte
	tagBuf     [8]byte      // holds short tags without an allocation
	msg        amqp.Message // Message points here: one allocation, not two
	preSettled bool
	settled    bool // c.mu
	payload    []byte
}

// Link is the link the message arrived on.
func (d *Delivery) Link() *IncomingLink { return d.link.in }

// ID is the delivery-id within its session.
func (d *Delivery) ID() uint32 { return d.id }

// Tag is the delivery-tag the client chose.
func (d *Delivery) Tag() []byte { return d.tag }

// PreSettled reports whether the client sent the message settled, expecting no outcome.
func (d *Delivery) PreSettled() bool { return d.preSettled }

// Size is the encoded size of the message in bytes.
func (d *Delivery) Size() int { return len(d.payload) }

// Settle sends the outcome to the client. In rcv-settle-mode second the
// delivery stays unsettled until the client confirms. It returns ErrSettled
// when called twice and ErrLinkDetached once the link is gone.
func (d *Delivery) Settle(o Outcome) error {
	d.link.c.mu.Lock()
	defer d.link.c.mu.Unlock()
	return d.settleLocked(o, false)
}

// settleLocked settles d; coalesce lets the read loop batch accepted outcomes.
func (d *Delivery) settleLocked(o Outcome, coalesce bool) error {
	l := d.link
	c := l.c
	if d.settled {
		return ErrSettled
	}
	d.settled = true
	if d.preSettled {
		return nil
	}
	l.pending--
	if l.terminated {
		return ErrLinkDetached
	}
	second := l.attach.RcvSettleMode == encoding.RcvSettleSecond
	if _, accepted := o.(Accepted); accepted && coalesce && !second {
		c.pendAcceptLocked(l.s, d.id)
		l.replenishLocked()
		return nil
	}
	if second {
		l.s.unsettledIn[d.id] = d
	}
	c.sendLocked(l.s.local, &encoding.Disposition{
		Role: encoding.RoleReceiver, First: d.id, Settled: !second, State: o.state(),
	}, nil)
	l.replenishLocked()
	return nil
}

// onTransfer assembles a delivery from one or more transfer frames and hands
// it to the link's node once complete.
func (s *session) onTransfer(t *encoding.Transfer) error {
	c := s.c
	c.mu.Lock()
	if err := s.countIncomingLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	l := s.links[t.Handle]
	if l == nil {
		c.mu.Unlock()
		return closeWith(CondUnattachedHandle, "transfer on unattached handle %d", t.Handle)
	}
	if l.outgoing {
		c.mu.Unlock()
		return closeWith(CondIllegalState, "transfer on a link where the client receives")
	}
	if l.terminated {
		c.mu.Unlock()
		return nil // in flight when we detached; drop it
	}
	d := l.partial
	if d == nil {
		if !t.HasDeliveryID {
			c.mu.Unlock()
			return closeWith(CondInvalidField, "first transfer of a delivery has no delivery-id")
		}
		d = &Delivery{link: l, id: t.DeliveryID}
		if len(t.DeliveryTag) <= len(d.tagBuf) {
			d.tag = append(d.tagBuf[:0], t.DeliveryTag...)
		} else {
			d.tag = append([]byte(nil), t.DeliveryTag...)
		}
		l.partialSz = 0
		if t.More {
			l.partial = d
		}
	}
	if t.Settled {
		d.preSettled = true
	}
	if t.Aborted {
		l.partial = nil
		c.mu.Unlock()
		return nil
	}
	l.partialSz += uint64(len(t.Payload))
	if l.partialSz > l.maxMsg {
		l.partial = nil
		e := &Error{Condition: CondMessageSizeExceeded, Description: "message exceeds the link's max-message-size"}
		l.sendDetachLocked(e)
		l.terminateLocked(ErrLinkDetached, nil)
		c.mu.Unlock()
		return nil
	}
	if t.More {
		d.payload = append(d.payload, t.Payload...)
		c.mu.Unlock()
		return nil
	}
	l.partial = nil
	if d.payload == nil {
		// Single frame: one exact copy out of the reused read buffer.
		d.payload = append(make([]byte, 0, len(t.Payload)), t.Payload...)
	} else {
		d.payload = append(d.payload, t.Payload...)
	}
	l.deliveryCount++
	if l.credit > 0 {
		l.credit--
	}
	if !d.preSettled {
		l.pending++
	}
	c.mu.Unlock()

	msg := &d.msg
	var outcome Outcome
	if err := msg.UnmarshalBinary(d.payload); err != nil {
		outcome = &Rejected{Error: &Error{Condition: CondDecodeError, Description: "malformed message: " + err.Error()}}
	} else {
		d.Message = msg
		outcome = l.runHandler(d)
	}
	c.mu.Lock()
	if outcome != nil {
		_ = d.settleLocked(outcome, true)
	}
	l.replenishLocked()
	c.mu.Unlock()
	return nil
}

func (l *Link) runHandler(d *Delivery) (o Outcome) {
	defer func() {
		if r := recover(); r != nil {
			l.c.log.Error("amqp node panicked on a message", "address", l.Address(), "panic", r)
			o = &Rejected{Error: &Error{Condition: CondInternalError, Description: "the node failed"}}
		}
	}()
	return l.handler(d)
}
