package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/internal/amqpvalue"
)

// Attach properties Event Hubs clients send on partition receivers.
const (
	// EpochProperty is the owner level: the receiver with the highest one is
	// the partition's only reader in its consumer group.
	EpochProperty = "com.microsoft:epoch"
	// ReceiverNameProperty names the receiver in the errors about it.
	ReceiverNameProperty = "com.microsoft:receiver-name"
	// RuntimeMetricCapability, among a receiver's desired capabilities,
	// asks for the partition's last enqueued event with every event, in
	// delivery annotations (see withRuntimeInfo).
	RuntimeMetricCapability = "com.microsoft:enable-receiver-runtime-metric"
)

// MaxPlainReceivers is how many receivers without an epoch Event Hubs lets
// read one partition in one consumer group at a time.
const MaxPlainReceivers = 5

// sendBatch is how many events a receiver takes from its partition per lock.
const sendBatch = 64

type slotKey struct{ group, partition string }

// slot holds the receivers of one partition in one consumer group: either
// one epoch receiver or up to MaxPlainReceivers plain ones.
type slot struct {
	owner *receiver
	plain map[*receiver]struct{}
}

// receiver is one attached partition receiver link.
type receiver struct {
	hub      *Hub
	link     *amqpserver.OutgoingLink
	key      slotKey
	log      *partitionLog
	name     string
	epoch    int64
	hasEpoch bool
	// runtimeInfo: the client asked for RuntimeMetricCapability.
	runtimeInfo bool

	ctx    context.Context // ends with the link, the hub or a kick
	cancel context.CancelFunc

	mu     sync.Mutex
	kicked *amqpserver.Error
}

// attachReceiver is the Outgoing callback of the partition node: it checks
// the address, the start filter and the ownership rules, then starts
// delivering events.
func (h *Hub) attachReceiver(l *amqpserver.OutgoingLink) error {
	addr := l.Address()
	if !h.isEntity(l.Param("entity")) {
		return notFound(addr)
	}
	if err := h.authorizeAttach(l); err != nil {
		return err
	}
	group, ok := h.consumerGroup(l.Param("cg"))
	if !ok {
		return notFound(addr)
	}
	p := h.partition(l.Param("pid"))
	if p == nil {
		return notFound(addr)
	}
	pos, err := startOf(l)
	if err != nil {
		return err
	}
	start, err := p.resolve(pos)
	if err != nil {
		return err
	}
	r := &receiver{hub: h, link: l, key: slotKey{group, p.id}, log: p, name: "nil"}
	if v, ok := l.Property(ReceiverNameProperty); ok {
		if s, ok := v.(string); ok && s != "" {
			r.name = s
		}
	}
	if v, ok := l.Property(EpochProperty); ok {
		e, ok := amqpvalue.Int64(v)
		if !ok {
			return &amqpserver.Error{Condition: CondArgumentError, Description: fmt.Sprintf("The %s attach property must be an integer, not %T.", EpochProperty, v)}
		}
		r.epoch, r.hasEpoch = e, true
	}
	if l.Desires(RuntimeMetricCapability) {
		r.runtimeInfo = true
		l.SetOfferedCapabilities(RuntimeMetricCapability)
	}
	r.ctx, r.cancel = context.WithCancel(l.Context())

	evicted, err := h.claim(r)
	if err != nil {
		r.cancel()
		return err
	}
	for _, old := range evicted {
		old.kick(stolenBy(r, old))
	}
	stop := context.AfterFunc(h.ctx, r.cancel)
	context.AfterFunc(l.Context(), func() { h.release(r) })
	go func() {
		defer h.wg.Done()
		defer stop()
		r.run(start)
	}()
	// A receiver attaching at the same time on another connection may have
	// taken the partition already; refusing now is cleaner than a detach.
	r.mu.Lock()
	kicked := r.kicked
	r.mu.Unlock()
	if kicked != nil {
		return kicked
	}
	return nil
}

// claim applies the ownership rules under h.mu and registers r. It returns
// the receivers r takes the partition from.
func (h *Hub) claim(r *receiver) (evicted []*receiver, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return nil, &amqpserver.Error{Condition: amqpserver.CondLinkDetachForced, Description: "The event hub is shutting down."}
	}
	s := h.slots[r.key]
	if s == nil {
		s = &slot{plain: make(map[*receiver]struct{})}
		h.slots[r.key] = s
	}
	// A link that has ended may not have been released yet: release runs on
	// its own goroutine after the link's context ends.
	if s.owner != nil && s.owner.link.Context().Err() != nil {
		s.owner = nil
	}
	for old := range s.plain {
		if old.link.Context().Err() != nil {
			delete(s.plain, old)
		}
	}
	switch {
	case r.hasEpoch && s.owner != nil && s.owner.epoch > r.epoch:
		return nil, &amqpserver.Error{Condition: amqpserver.CondLinkStolen, Description: fmt.Sprintf(
			"Receiver '%s' with a higher epoch '%d' already exists. Receiver '%s' with epoch %d cannot be created. "+
				"Make sure you are creating receiver with increasing epoch value to ensure connectivity, "+
				"or ensure all old epoch receivers are closed or disconnected.", s.owner.name, s.owner.epoch, r.name, r.epoch)}
	case r.hasEpoch:
		if s.owner != nil {
			evicted = append(evicted, s.owner)
		}
		for old := range s.plain {
			evicted = append(evicted, old)
		}
		clear(s.plain)
		s.owner = r
	case s.owner != nil:
		return nil, &amqpserver.Error{Condition: amqpserver.CondLinkStolen, Description: fmt.Sprintf(
			"At least one receiver for the endpoint is created with epoch of '%d', and so non-epoch receiver is not allowed. "+
				"Either reconnect with a higher epoch, or make sure all epoch receivers are closed or disconnected.", s.owner.epoch)}
	case len(s.plain) >= MaxPlainReceivers:
		names := make([]string, 0, len(s.plain))
		for old := range s.plain {
			names = append(names, old.name)
		}
		return nil, &amqpserver.Error{Condition: amqpserver.CondResourceLimitExceeded, Description: fmt.Sprintf(
			"Exceeded the maximum number of allowed receivers per partition in a consumer group which is %d. "+
				"List of connected receivers - %s.", MaxPlainReceivers, strings.Join(names, ", "))}
	default:
		s.plain[r] = struct{}{}
	}
	h.wg.Add(1) // the delivery goroutine, started by the caller
	return evicted, nil
}

// release forgets r once its link has ended.
func (h *Hub) release(r *receiver) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.slots[r.key]
	if s == nil {
		return
	}
	if s.owner == r {
		s.owner = nil
	}
	delete(s.plain, r)
	if s.owner == nil && len(s.plain) == 0 {
		delete(h.slots, r.key)
	}
}

func stolenBy(r, old *receiver) *amqpserver.Error {
	oldEpoch := ""
	if old.hasEpoch {
		oldEpoch = fmt.Sprint(old.epoch)
	}
	return &amqpserver.Error{Condition: amqpserver.CondLinkStolen, Description: fmt.Sprintf(
		"New receiver '%s' with higher epoch of '%d' is created hence current receiver '%s' with epoch '%s' is getting disconnected. "+
			"If you are recreating the receiver, make sure a higher epoch is used.", r.name, r.epoch, old.name, oldEpoch)}
}

// kick detaches r with e. A link whose attach is still being answered
// cannot be detached yet; its delivery goroutine retries.
func (r *receiver) kick(e *amqpserver.Error) {
	r.mu.Lock()
	r.kicked = e
	r.mu.Unlock()
	_ = r.link.Detach(e)
	r.cancel()
}

// finishKick detaches a kicked link whose attach was in flight during kick.
func (r *receiver) finishKick() {
	r.mu.Lock()
	e := r.kicked
	r.mu.Unlock()
	if e == nil {
		return
	}
	for range 200 {
		err := r.link.Detach(e)
		if err == nil || errors.Is(err, amqpserver.ErrLinkDetached) {
			return
		}
		select {
		case <-r.link.Context().Done():
			return
		case <-time.After(5 * time.Millisecond): // the engine has no "attached" signal to wait on
		}
	}
}

// run sends the partition's events from sequence number seq on, as fast as
// the client's credit allows, and waits at the end of the visible events
// for more.
func (r *receiver) run(seq int64) {
	defer r.finishKick()
	var opts *amqpserver.SendOptions
	if r.link.SenderSettleMode() == 2 { // mixed: Event Hubs sends pre-settled
		opts = &amqpserver.SendOptions{Settled: true}
	}
	buf := make([][]byte, sendBatch)
	for {
		n, first, wait := r.log.read(seq, buf, r.hub.opts.Now())
		if n == 0 {
			select {
			case <-wait:
				continue
			case <-r.ctx.Done():
				return
			}
		}
		var info []byte
		if r.runtimeInfo {
			now := r.hub.opts.Now()
			info = runtimeInfoSection(r.log.info(now), now)
		}
		for i := range n {
			// Stored events are kept encoded, annotations included, and
			// never change: they go out as they are.
			payload := buf[i]
			buf[i] = nil
			if info != nil {
				payload = withRuntimeInfo(payload, info)
			}
			if _, err := r.link.SendEncoded(r.ctx, payload, opts); err != nil {
				return
			}
		}
		seq = first + int64(n)
	}
}

// DetachReceivers detaches every partition receiver with the given
// condition, such as com.microsoft:server-busy or amqp:link:detach-forced,
// for fault-injection tests. An empty description gets the service's usual
// text. It returns how many links it detached.
func (h *Hub) DetachReceivers(condition, description string) int {
	if description == "" {
		switch condition {
		case amqpserver.CondServerBusy:
			description = "The request was terminated because the entity is being throttled. Error code : 50002."
		default:
			description = "The link was force detached by the service."
		}
	}
	h.mu.Lock()
	var all []*receiver
	for _, s := range h.slots {
		if s.owner != nil {
			all = append(all, s.owner)
		}
		for r := range s.plain {
			all = append(all, r)
		}
	}
	h.mu.Unlock()
	n := 0
	for _, r := range all {
		if r.link.Detach(&amqpserver.Error{Condition: condition, Description: description}) == nil {
			n++
		}
	}
	return n
}

// startOf reads the link's selector filter.
func startOf(l *amqpserver.OutgoingLink) (startPosition, error) {
	v, ok := l.Filter(SelectorFilter)
	if !ok || v == nil {
		return startPosition{kind: startEarliest}, nil
	}
	s, ok := v.(string)
	if !ok {
		return startPosition{}, &amqpserver.Error{Condition: CondArgumentError,
			Description: fmt.Sprintf("The %s filter must be a string, not %T.", SelectorFilter, v)}
	}
	return parseSelector(s)
}

func notFound(addr string) *amqpserver.Error {
	return &amqpserver.Error{Condition: amqpserver.CondNotFound,
		Description: fmt.Sprintf("The messaging entity '%s' could not be found.", addr)}
}
