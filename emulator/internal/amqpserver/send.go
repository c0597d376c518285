package amqpserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// SendOptions tunes one OutgoingLink send. A nil *SendOptions accepts the defaults.
type SendOptions struct {
	// Settled sends the message pre-settled, when the link's snd-settle-mode
	// is mixed; links attached as settled or unsettled use their mode.
	// Default: false (unsettled, the client reports an outcome).
	Settled bool
	// Tag is the delivery-tag, at most 32 bytes, for nodes whose clients
	// read meaning into it (IoT Hub's C2D lock tokens). Default: the
	// delivery-id's four bytes.
	Tag []byte
}

// maxTagSize is the largest delivery-tag AMQP allows.
const maxTagSize = 32

// OutgoingDelivery is a message sent on an outgoing link. It completes when
// the client settles it (Outcome set) or the link ends first (error set).
type OutgoingDelivery struct {
	link *Link
	id   uint32
	done chan struct{}

	// Set once, under c.mu, before done is closed.
	outcome Outcome
	err     error
}

// ID is the delivery-id within its session.
func (d *OutgoingDelivery) ID() uint32 { return d.id }

// Done is closed when the delivery completes.
func (d *OutgoingDelivery) Done() <-chan struct{} { return d.done }

// Outcome returns the client's outcome once Done is closed. For a message
// sent pre-settled it is Accepted. The error is non-nil when the link or
// connection ended before the client settled; the message may or may not
// have been processed (treat it as released).
func (d *OutgoingDelivery) Outcome() (Outcome, error) {
	<-d.done
	return d.outcome, d.err
}

// Wait waits for the outcome or for ctx.
func (d *OutgoingDelivery) Wait(ctx context.Context) (Outcome, error) {
	select {
	case <-d.done:
		return d.outcome, d.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (d *OutgoingDelivery) completeLocked(o Outcome, err error) {
	if d.outcome != nil || d.err != nil {
		return
	}
	if o == nil && err == nil {
		o = Accepted{}
	}
	d.outcome, d.err = o, err
	close(d.done)
}

// Credit returns the credit the client has granted and not yet used.
func (l *OutgoingLink) Credit() uint32 {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return l.credit
}

// Send sends msg, waiting for link credit and session window. It returns once
// the message is queued for the socket; use the OutgoingDelivery to learn the
// client's outcome. It fails when ctx ends or the link detaches.
func (l *OutgoingLink) Send(ctx context.Context, msg *amqp.Message, opts *SendOptions) (*OutgoingDelivery, error) {
	if msg == nil {
		return nil, errors.New("amqpserver: nil message")
	}
	payload, err := msg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return l.SendEncoded(ctx, payload, opts)
}

// SendEncoded is Send for a message already in its AMQP encoding (the
// bare message sections, as (*amqp.Message).MarshalBinary writes them), for
// nodes that store messages encoded and should not decode and encode each
// again to send it. payload must not be modified afterwards.
func (l *OutgoingLink) SendEncoded(ctx context.Context, payload []byte, opts *SendOptions) (*OutgoingDelivery, error) {
	if opts != nil && len(opts.Tag) > maxTagSize {
		return nil, fmt.Errorf("amqpserver: a delivery-tag of %d bytes; at most %d", len(opts.Tag), maxTagSize)
	}
	var err error
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if l.terminated {
			return nil, l.termErr
		}
		if l.canSendLocked(len(payload)) {
			d := l.transmitLocked(payload, opts)
			l.finishDrainLocked()
			return d, nil
		}
		wake := l.s.wake
		l.sendWaiters++
		c.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			err = ctx.Err()
		}
		c.mu.Lock()
		l.sendWaiters--
		if l.terminated {
			// The link's own context ends with it; report why.
			return nil, l.termErr
		}
		if err != nil {
			l.finishDrainLocked()
			return nil, err
		}
	}
}

// WaitCredit waits until the client has granted credit on the link, so
// that a node can take a message from its store only when it can send it
// at once. It fails when ctx ends or the link detaches.
func (l *OutgoingLink) WaitCredit(ctx context.Context) error {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if l.terminated {
			return l.termErr
		}
		if l.credit > 0 && l.attached {
			return nil
		}
		wake := l.s.wake
		c.mu.Unlock()
		var err error
		select {
		case <-wake:
		case <-ctx.Done():
			err = ctx.Err()
		}
		c.mu.Lock()
		if err != nil && !l.terminated {
			return err
		}
	}
}

// TrySend sends msg if the client has granted credit, and otherwise returns
// ErrNoCredit without waiting.
func (l *OutgoingLink) TrySend(msg *amqp.Message, opts *SendOptions) (*OutgoingDelivery, error) {
	if msg == nil {
		return nil, errors.New("amqpserver: nil message")
	}
	payload, err := msg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.terminated {
		return nil, l.termErr
	}
	if opts != nil && len(opts.Tag) > maxTagSize {
		return nil, fmt.Errorf("amqpserver: a delivery-tag of %d bytes; at most %d", len(opts.Tag), maxTagSize)
	}
	if !l.canSendLocked(len(payload)) {
		return nil, ErrNoCredit
	}
	return l.transmitLocked(payload, opts), nil
}

// framesFor is how many transfer frames a payload needs.
func (l *Link) framesFor(n int) uint32 {
	per := int(l.c.peerMaxOut) - transferOverhead
	return uint32(max(1, (n+per-1)/per))
}

// transferOverhead bounds the frame header plus the largest first transfer
// performative we write (handle, id, 4-byte tag, format, settled, more).
const transferOverhead = 8 + 48

func (l *Link) canSendLocked(n int) bool {
	if l.credit == 0 || !l.attached {
		return false
	}
	need := l.framesFor(n)
	// A message larger than the client's whole window goes once the window
	// is as open as the client ever makes it.
	return l.s.remoteIncomingWindow >= min(need, max(l.s.remoteWindowAdvert, 1))
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// transmitLocked writes the transfer frames of one delivery.
func (l *Link) transmitLocked(payload []byte, opts *SendOptions) *OutgoingDelivery {
	s := l.s
	settled := false
	switch l.attach.SndSettleMode {
	case encoding.SndSettleSettled:
		settled = true
	case encoding.SndSettleMixed:
		settled = opts != nil && opts.Settled
	}
	id := s.nextDeliveryID
	s.nextDeliveryID++
	var idTag [4]byte
	tag := idTag[:]
	if opts != nil && len(opts.Tag) > 0 {
		tag = opts.Tag
	} else {
		binary.BigEndian.PutUint32(idTag[:], id)
	}
	d := &OutgoingDelivery{link: l, id: id}
	if settled {
		d.done, d.outcome = closedChan, Accepted{}
	} else {
		d.done = make(chan struct{})
		s.unsettledOut[id] = d
	}
	per := int(l.c.peerMaxOut) - transferOverhead
	t := encoding.Transfer{
		Handle: l.handle, DeliveryID: id, HasDeliveryID: true, DeliveryTag: tag,
		Settled: settled, HasSettled: true,
	}
	for first := true; first || len(payload) > 0; first = false {
		chunk := payload
		if len(chunk) > per {
			chunk = chunk[:per]
		}
		payload = payload[len(chunk):]
		t.More = len(payload) > 0
		l.c.sendLocked(s.local, &t, chunk)
		if first {
			t.HasDeliveryID, t.DeliveryTag, t.HasSettled = false, nil, false
		}
		s.nextOutgoingID++
		if s.remoteIncomingWindow > 0 {
			s.remoteIncomingWindow--
		}
	}
	l.deliveryCount++
	l.credit--
	return d
}
