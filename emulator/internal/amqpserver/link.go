package amqpserver

import (
	"context"
	"fmt"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// Symbol, Source and Target are the AMQP types a node reads from an attach.
type (
	// Symbol is an AMQP symbol.
	Symbol = encoding.Symbol
	// Source is the source terminus of an attach (filters live here).
	Source = encoding.Source
	// Target is the target terminus of an attach.
	Target = encoding.Target
	// Described is a described value, such as a filter.
	Described = encoding.Described
)

// Link is what incoming and outgoing links share: the attach the client sent,
// the address parameters the route captured, and the means to detach.
// Its methods are safe for concurrent use.
type Link struct {
	c        *Conn
	s        *session
	attach   *encoding.Attach
	params   map[string]string
	outgoing bool // the server sends on this link
	handle   uint32
	rhandle  uint32

	ctx    context.Context
	cancel context.CancelFunc

	// Guarded by c.mu.
	respProps   map[Symbol]any
	respOffered []Symbol
	attached    bool // our attach went out
	// detachAfterAttach is set when the node detached during its callback.
	detachAfterAttach *Error
	detachSent        bool
	terminated        bool
	termErr           error

	// Flow state (c.mu). deliveryCount and credit follow the spec's sender view
	// for outgoing links and receiver view for incoming ones.
	deliveryCount uint32
	credit        uint32

	// Outgoing links (c.mu).
	drain       bool
	sendWaiters int

	// Incoming links (c.mu, except handler which is set once before attach).
	handler   MessageHandler
	maxMsg    uint64
	maxCredit uint32
	pending   int // deliveries the node has not settled
	partial   *Delivery
	partialSz uint64
	in        *IncomingLink
}

// IncomingLink is a link on which the client sends and the server receives.
type IncomingLink struct{ *Link }

// OutgoingLink is a link on which the server sends and the client receives.
type OutgoingLink struct{ *Link }

// Name is the link name chosen by the client.
func (l *Link) Name() string { return l.attach.Name }

// Address is the node address the client attached to (the target address of
// an incoming link, the source address of an outgoing one).
func (l *Link) Address() string {
	if l.outgoing {
		if l.attach.Source != nil {
			return l.attach.Source.Address
		}
		return ""
	}
	if l.attach.Target != nil {
		return l.attach.Target.Address
	}
	return ""
}

// Param returns the address segment the route's {name} captured.
func (l *Link) Param(name string) string { return l.params[name] }

// Params returns every captured address segment.
func (l *Link) Params() map[string]string { return l.params }

// Source is the client's source terminus; nil if it sent none.
func (l *Link) Source() *Source { return l.attach.Source }

// Target is the client's target terminus; nil if it sent none.
func (l *Link) Target() *Target { return l.attach.Target }

// Properties are the attach properties the client sent, such as com.microsoft:epoch.
func (l *Link) Properties() map[Symbol]any { return l.attach.Properties }

// Property returns one attach property.
func (l *Link) Property(key string) (any, bool) {
	v, ok := l.attach.Properties[Symbol(key)]
	return v, ok
}

// Desires reports whether the client listed capability among the
// desired-capabilities of its attach, as Event Hubs clients ask for
// com.microsoft:enable-receiver-runtime-metric.
func (l *Link) Desires(capability string) bool {
	for _, c := range l.attach.DesiredCapabilities {
		if string(c) == capability {
			return true
		}
	}
	return false
}

// SetOfferedCapabilities sets the offered-capabilities of the attach sent
// back to the client, telling it which of its desired capabilities the
// link supports. It only has effect while the node's attach callback runs.
func (l *Link) SetOfferedCapabilities(capabilities ...string) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.respOffered = make([]Symbol, len(capabilities))
	for i, c := range capabilities {
		l.respOffered[i] = Symbol(c)
	}
}

// Filter returns the value of the source filter registered under key (for
// example "apache.org:selector-filter:string"), unwrapping its descriptor.
func (l *Link) Filter(key string) (any, bool) {
	if l.attach.Source == nil {
		return nil, false
	}
	v, ok := l.attach.Source.Filter[Symbol(key)]
	if d, isDescribed := v.(*Described); isDescribed {
		return d.Value, ok
	}
	return v, ok
}

// SenderSettleMode is the snd-settle-mode agreed at attach: 0 unsettled, 1 settled, 2 mixed.
func (l *Link) SenderSettleMode() uint8 { return l.attach.SndSettleMode }

// ReceiverSettleMode is the rcv-settle-mode agreed at attach: 0 first, 1 second.
func (l *Link) ReceiverSettleMode() uint8 { return l.attach.RcvSettleMode }

// IsOutgoing reports whether the server sends on the link (the client attached a receiver).
func (l *Link) IsOutgoing() bool { return l.outgoing }

// SetCredit sets how much credit the link grants the client (default
// ServerOptions.LinkCredit). Call it from the node's Incoming callback.
func (l *IncomingLink) SetCredit(n uint32) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if n > 0 && !l.attached {
		l.maxCredit = n
	}
}

// SetMaxMessageSize sets the largest message the link accepts, advertised in
// the attach (default ServerOptions.MaxMessageSize); larger messages detach
// the link with amqp:link:message-size-exceeded. Call it from the node's
// Incoming callback.
func (l *IncomingLink) SetMaxMessageSize(n uint64) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if n > 0 && !l.attached {
		l.maxMsg = n
	}
}

// Conn is the connection the link belongs to.
func (l *Link) Conn() *Conn { return l.c }

// Context is cancelled when the link detaches or its connection ends.
func (l *Link) Context() context.Context { return l.ctx }

// SetResponseProperties sets the properties of the attach sent back to the
// client. It only has effect while the node's attach callback runs.
func (l *Link) SetResponseProperties(props map[string]any) {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	l.respProps = make(map[Symbol]any, len(props))
	for k, v := range props {
		l.respProps[Symbol(k)] = v
	}
}

// Detach closes the link with e (nil for a clean detach), as a node does to
// report amqp:link:stolen or com.microsoft:server-busy. The client's pending
// operations fail with a *amqp.LinkError carrying e. Called from the node's
// attach callback, it completes the attach and detaches right after, which
// go-amqp reports as a *amqp.LinkError on the link's first operation rather
// than as the *amqp.Error a refused attach gives.
func (l *Link) Detach(e *Error) error {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.terminated {
		return ErrLinkDetached
	}
	if !l.attached {
		// Called from the node's attach callback: attach, then detach at once.
		l.detachAfterAttach = e
		if e == nil {
			l.detachAfterAttach = &Error{Condition: CondLinkDetachForced}
		}
		return nil
	}
	l.sendDetachLocked(e)
	l.terminateLocked(ErrLinkDetached, e)
	l.s.broadcastLocked()
	return nil
}

func (l *Link) sendDetachLocked(e *Error) {
	if l.detachSent || l.s.ended {
		return
	}
	l.detachSent = true
	l.c.sendLocked(l.s.local, &encoding.Detach{Handle: l.handle, Closed: true, Error: e.wire()}, nil)
}

// terminateLocked ends the link locally: its context, its unsettled deliveries
// and its blocked senders. The handles stay reserved until both detaches pass.
func (l *Link) terminateLocked(err error, remote *Error) {
	if l.terminated {
		return
	}
	l.terminated = true
	l.termErr = err
	if remote != nil {
		l.termErr = fmt.Errorf("%w: %w", err, remote)
	}
	l.cancel()
	for id, od := range l.s.unsettledOut {
		if od.link == l {
			delete(l.s.unsettledOut, id)
			od.completeLocked(nil, l.termErr)
		}
	}
	for id, d := range l.s.unsettledIn {
		if d.link == l {
			delete(l.s.unsettledIn, id)
		}
	}
}

// onAttach creates a link and asks the node at its address to take it.
func (s *session) onAttach(a *encoding.Attach) error {
	c := s.c
	c.mu.Lock()
	if a.Handle > s.handleMax {
		c.mu.Unlock()
		return closeWith(CondInvalidField, "handle %d exceeds handle-max %d", a.Handle, s.handleMax)
	}
	if _, dup := s.links[a.Handle]; dup {
		c.mu.Unlock()
		return closeWith(CondHandleInUse, "handle %d is in use", a.Handle)
	}
	h, ok := s.allocHandleLocked()
	if !ok {
		c.mu.Unlock()
		return closeWith(CondResourceLimitExceeded, "no free link handle")
	}
	l := &Link{
		c:        c,
		s:        s,
		attach:   a,
		outgoing: a.Role == encoding.RoleReceiver,
		handle:   h,
		rhandle:  a.Handle,
	}
	l.ctx, l.cancel = context.WithCancel(c.ctx)
	s.links[a.Handle] = l
	s.ourHandles[h] = l
	c.mu.Unlock()

	refusal := c.srv.attachToNode(l)

	c.mu.Lock()
	defer c.mu.Unlock()
	if s.ended || c.closeSent {
		l.terminateLocked(ErrLinkDetached, nil)
		return nil
	}
	resp := &encoding.Attach{
		Name:          a.Name,
		Handle:        l.handle,
		Role:          !a.Role,
		SndSettleMode: a.SndSettleMode,
		RcvSettleMode: a.RcvSettleMode,
		Properties:    l.respProps,
	}
	if refusal == nil {
		resp.OfferedCapabilities = l.respOffered
	}
	if refusal != nil {
		// A refused attach carries no terminus on our side, then a detach with the reason.
		c.sendLocked(s.local, resp, nil)
		l.attached = true
		l.sendDetachLocked(refusal)
		l.terminateLocked(ErrLinkDetached, nil)
		return nil
	}
	resp.Source, resp.Target = a.Source, a.Target
	if !l.outgoing {
		resp.MaxMessageSize = l.maxMsg
		l.deliveryCount = a.InitialDeliveryCount
	}
	c.sendLocked(s.local, resp, nil)
	l.attached = true
	if e := l.detachAfterAttach; e != nil {
		l.sendDetachLocked(e)
		l.terminateLocked(ErrLinkDetached, e)
		s.broadcastLocked()
		return nil
	}
	if !l.outgoing {
		l.credit = l.maxCredit
		c.sendLocked(s.local, l.linkFlowLocked(false), nil)
	}
	return nil
}

// attachToNode routes l and runs the node's callback; non-nil refuses the attach.
func (srv *Server) attachToNode(l *Link) (refusal *Error) {
	defer func() {
		if r := recover(); r != nil {
			l.c.log.Error("amqp node panicked on attach", "address", l.Address(), "panic", r)
			refusal = &Error{Condition: CondInternalError, Description: "the node failed"}
		}
	}()
	addr := l.Address()
	if (l.outgoing && l.attach.Source == nil) || (!l.outgoing && l.attach.Target == nil) {
		return &Error{Condition: CondInvalidField, Description: "attach without a terminus address"}
	}
	n, params := srv.router.match(addr)
	if n == nil {
		return &Error{Condition: CondNotFound, Description: fmt.Sprintf("no node at address %q", addr)}
	}
	l.params = params
	if l.outgoing {
		if n.Outgoing == nil {
			return &Error{Condition: CondNotAllowed, Description: fmt.Sprintf("%q cannot be received from", addr)}
		}
		if err := n.Outgoing(&OutgoingLink{l}); err != nil {
			return asError(err, CondInternalError)
		}
		return nil
	}
	if n.Incoming == nil {
		return &Error{Condition: CondNotAllowed, Description: fmt.Sprintf("%q cannot be sent to", addr)}
	}
	l.in = &IncomingLink{l}
	l.maxCredit = srv.opts.LinkCredit
	l.maxMsg = srv.opts.MaxMessageSize
	h, err := n.Incoming(l.in)
	if err != nil {
		return asError(err, CondInternalError)
	}
	if h == nil {
		return &Error{Condition: CondInternalError, Description: "the node returned no message handler"}
	}
	l.handler = h
	return nil
}

// onDetach handles the client's detach, answering it unless we detached first.
func (s *session) onDetach(d *encoding.Detach) error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	l := s.links[d.Handle]
	if l == nil {
		return closeWith(CondUnattachedHandle, "detach of unattached handle %d", d.Handle)
	}
	delete(s.links, d.Handle)
	l.sendDetachLocked(nil)
	delete(s.ourHandles, l.handle)
	l.terminateLocked(ErrLinkDetached, fromWire(d.Error))
	s.broadcastLocked()
	return nil
}

// linkFlowLocked builds a flow frame for l.
func (l *Link) linkFlowLocked(drain bool) *encoding.Flow {
	f := l.s.flowLocked()
	h, dc, cr := l.handle, l.deliveryCount, l.credit
	f.Handle, f.DeliveryCount, f.LinkCredit = &h, &dc, &cr
	f.Drain = drain
	return f
}

// onSenderFlowLocked applies the client's credit to a link we send on.
func (l *Link) onSenderFlowLocked(f *encoding.Flow) {
	if f.LinkCredit != nil {
		// link-credit(snd) = delivery-count(rcv) + link-credit(rcv) - delivery-count(snd)
		// Without a delivery-count the client has not seen our attach's
		// initial-delivery-count, which is 0.
		rcvCount := uint32(0)
		if f.DeliveryCount != nil {
			rcvCount = *f.DeliveryCount
		}
		l.credit = rcvCount + *f.LinkCredit - l.deliveryCount
		if int32(l.credit) < 0 {
			l.credit = 0
		}
	}
	l.drain = f.Drain
	if f.Echo && !f.Drain {
		l.c.sendLocked(l.s.local, l.linkFlowLocked(false), nil)
	}
	l.finishDrainLocked()
}

// finishDrainLocked answers a drain once no send is waiting to use the credit.
func (l *Link) finishDrainLocked() {
	if !l.drain || l.sendWaiters > 0 {
		return
	}
	l.deliveryCount += l.credit
	l.credit = 0
	l.drain = false
	l.c.sendLocked(l.s.local, l.linkFlowLocked(true), nil)
}

// onReceiverFlowLocked applies the client's view of a link we receive on.
func (l *Link) onReceiverFlowLocked(f *encoding.Flow) {
	if f.DeliveryCount != nil {
		// A sender that drained advanced its delivery-count past ours.
		adv := *f.DeliveryCount - l.deliveryCount
		if adv <= l.credit {
			l.credit -= adv
			l.deliveryCount = *f.DeliveryCount
		}
	}
	if f.Echo {
		l.c.sendLocked(l.s.local, l.linkFlowLocked(false), nil)
	}
	l.replenishLocked()
}

// replenishLocked tops up the credit of an incoming link once half is used.
// Deliveries the node holds unsettled count against the credit, so a node
// that settles slowly slows its clients down.
func (l *Link) replenishLocked() {
	if l.terminated || !l.attached {
		return
	}
	limit := l.maxCredit - min(l.maxCredit, uint32(l.pending))
	if uint64(l.credit)*2 >= uint64(limit) {
		return
	}
	l.credit = limit
	l.c.sendLocked(l.s.local, l.linkFlowLocked(false), nil)
}

// Go runs f on a goroutine that Server.Shutdown waits for, passing the
// link's context, which ends when the link detaches. It is how a node
// streams messages on an outgoing link. It returns false, without running
// f, when the server is shutting down.
func (l *Link) Go(f func(ctx context.Context)) bool {
	return l.c.srv.goTracked(func() { f(l.ctx) })
}
