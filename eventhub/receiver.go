package eventhub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/internal/amqpconn"
)

// StartPosition says where a receiver starts reading a partition. The first
// field set wins, in the order Offset, SequenceNumber, EnqueuedTime,
// Earliest, Latest; the zero value means Latest.
type StartPosition struct {
	// Earliest starts at the oldest event retained.
	Earliest bool
	// Latest starts after the newest event: only events enqueued once the
	// receiver is attached are read.
	Latest bool
	// Offset starts after (or, with Inclusive, at) the event at this offset.
	Offset *string
	// SequenceNumber starts after (or, with Inclusive, at) the event with
	// this sequence number.
	SequenceNumber *int64
	// EnqueuedTime starts at the first event enqueued after (or, with
	// Inclusive, at) this time, to the millisecond.
	EnqueuedTime *time.Time
	// Inclusive includes the event Offset, SequenceNumber or EnqueuedTime
	// names.
	Inclusive bool
}

// selector is the apache.org:selector-filter:string expression of p.
func (p StartPosition) selector() string {
	op := ">"
	if p.Inclusive {
		op = ">="
	}
	switch {
	case p.Offset != nil:
		return fmt.Sprintf("amqp.annotation.x-opt-offset %s '%s'", op, *p.Offset)
	case p.SequenceNumber != nil:
		return fmt.Sprintf("amqp.annotation.x-opt-sequence-number %s '%d'", op, *p.SequenceNumber)
	case p.EnqueuedTime != nil:
		return fmt.Sprintf("amqp.annotation.x-opt-enqueued-time %s '%d'", op, p.EnqueuedTime.UnixMilli())
	case p.Earliest:
		return "amqp.annotation.x-opt-offset > '-1'"
	default:
		return "amqp.annotation.x-opt-offset > '@latest'"
	}
}

// ReceiverOptions configure a PartitionReceiver. A nil *ReceiverOptions
// accepts the defaults.
type ReceiverOptions struct {
	// StartPosition is where reading starts.
	// Default: Latest.
	StartPosition StartPosition
	// OwnerLevel, when set, makes the receiver the partition's exclusive
	// reader in its consumer group (the com.microsoft:epoch of Event Hubs):
	// a receiver with an equal or higher level takes the partition over and
	// this one fails with ErrOwnershipLost; receivers without a level are
	// refused while it reads.
	// Default: nil (up to five receivers share the partition).
	OwnerLevel *int64
	// Prefetch is how many events the service may send ahead of Receive
	// calls; it bounds the receiver's memory (Prefetch × event size).
	// Default: 300. At most 5000.
	Prefetch int
	// TrackLastEnqueued asks the service to send, with every event, where
	// the partition ends (Event Hubs' receiver runtime metric), which
	// LastEnqueued then reports: how far behind the reader is, with no
	// extra request.
	// Default: false.
	TrackLastEnqueued bool
}

// DefaultPrefetch is the default ReceiverOptions.Prefetch.
const DefaultPrefetch = 300

// PartitionReceiver reads the events of one partition in order. After a
// failure of its link or connection it attaches again after the last event
// it handed out, so that a caller sees every event once, in order, with no
// gap, until it fails with an error that retrying cannot cure
// (ErrOwnershipLost, ErrUnauthorized, ErrNotFound, ErrClosed, or too many
// consecutive failures). Receive must not be called concurrently with
// itself; Close may be called at any time.
type PartitionReceiver struct {
	c          *Consumer
	id         string
	start      StartPosition
	ownerLevel *int64
	prefetch   int32
	name       string
	track      bool
	lastEnq    atomic.Pointer[LastEnqueued]

	recvMu   sync.Mutex // one Receive at a time
	last     int64      // sequence number of the last event handed out
	resumed  bool       // last is set
	pending  error      // a failure met while holding events, returned next
	lost     error      // ownership lost: sticky
	failures int

	slot int // the consumer's connection slot, held until Close

	mu     sync.Mutex // guards the link and closed
	sess   *amqp.Session
	link   *amqp.Receiver
	ref    connRef // the connection of the link
	closed bool
}

// NewPartitionReceiver returns a receiver of the partition partitionID. It
// attaches on the first Receive, on the consumer's connection with the
// fewest receivers. Close it when done, so that its connection slot is
// given back.
func (c *Consumer) NewPartitionReceiver(partitionID string, opts *ReceiverOptions) (*PartitionReceiver, error) {
	if partitionID == "" {
		return nil, errors.New("iothub: partition id is empty")
	}
	var o ReceiverOptions
	if opts != nil {
		o = *opts
	}
	if o.Prefetch <= 0 {
		o.Prefetch = DefaultPrefetch
	}
	o.Prefetch = min(o.Prefetch, 5000)
	r := &PartitionReceiver{c: c, id: partitionID, start: o.StartPosition, prefetch: int32(o.Prefetch), name: "iothub-go-" + randomName(), slot: c.acquireSlot(), track: o.TrackLastEnqueued}
	if o.OwnerLevel != nil {
		lvl := *o.OwnerLevel
		r.ownerLevel = &lvl
	}
	return r, nil
}

// PartitionID returns the partition the receiver reads.
func (r *PartitionReceiver) PartitionID() string { return r.id }

// Receive waits until max events have arrived or ctx ends, and returns
// them. When ctx ends with events in hand it returns those and a nil
// error; with none it returns ctx's error. A failure met while holding
// events is returned by the next call.
func (r *PartitionReceiver) Receive(ctx context.Context, max int) ([]*Event, error) {
	return r.receive(ctx, max, true, 0)
}

// receive returns up to max events. With wait false it returns as soon as
// it has one and nothing more is already prefetched, or, with linger > 0,
// once linger has passed since the first event arrived.
func (r *PartitionReceiver) receive(ctx context.Context, max int, wait bool, linger time.Duration) ([]*Event, error) {
	events, err := r.receiveEvents(ctx, max, wait, linger)
	if r.track && len(events) > 0 {
		// The newest event of the batch carries the newest figures.
		if le, ok := lastEnqueuedOf(events[len(events)-1].msg); ok {
			r.lastEnq.Store(&le)
		}
	}
	return events, err
}

func (r *PartitionReceiver) receiveEvents(ctx context.Context, max int, wait bool, linger time.Duration) ([]*Event, error) {
	if max <= 0 {
		return nil, errors.New("iothub: Receive needs max > 0")
	}
	r.recvMu.Lock()
	defer r.recvMu.Unlock()
	if r.lost != nil {
		return nil, r.lost
	}
	if err := r.pending; err != nil {
		r.pending = nil
		return nil, err
	}
	var events []*Event
	finish := func(err error) ([]*Event, error) {
		if errors.Is(err, ErrOwnershipLost) {
			r.lost = err
		}
		if len(events) == 0 {
			return nil, err
		}
		if ctx.Err() == nil {
			r.pending = err
		}
		return events, nil
	}
	for len(events) < max {
		link, err := r.attach(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return finish(ctx.Err())
			}
			if err := r.recover(ctx, err); err != nil {
				return finish(err)
			}
			continue
		}
		var m *amqp.Message
		if len(events) > 0 && !wait {
			if m = link.Prefetched(); m == nil {
				if linger <= 0 {
					return events, nil
				}
				// Wait for the batch to fill until linger has passed;
				// the deadline ending the wait returns what is in hand.
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, linger)
				defer cancel()
				wait = true
				continue
			}
		} else if m, err = link.Receive(ctx, nil); err != nil {
			if ctx.Err() != nil {
				return finish(ctx.Err())
			}
			if err := r.recover(ctx, err); err != nil {
				return finish(err)
			}
			continue
		}
		ev := newEvent(m, r.id)
		r.last, r.resumed = ev.SequenceNumber, true
		events = append(events, ev)
	}
	return events, nil
}

// attach returns the live link, attaching one if there is none: after the
// last event handed out, or at the start position before the first.
func (r *PartitionReceiver) attach(ctx context.Context) (*amqp.Receiver, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if r.link != nil {
		l := r.link
		r.mu.Unlock()
		return l, nil
	}
	r.mu.Unlock()

	s, ref, err := r.c.session(ctx, r.slot)
	r.mu.Lock()
	r.ref = ref
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	start := r.start
	if r.resumed {
		seq := r.last
		start = StartPosition{SequenceNumber: &seq}
	}
	props := map[string]any{"com.microsoft:receiver-name": r.name}
	if r.ownerLevel != nil {
		props["com.microsoft:epoch"] = *r.ownerLevel
	}
	address := ref.ep.entity + "/ConsumerGroups/" + r.c.group + "/Partitions/" + r.id
	var capabilities []string
	if r.track {
		capabilities = []string{capabilityRuntimeMetric}
	}
	link, err := s.NewReceiver(ctx, address, &amqp.ReceiverOptions{
		DesiredCapabilities:       capabilities,
		Credit:                    r.prefetch,
		SettlementMode:            amqp.ReceiverSettleModeFirst.Ptr(),
		RequestedSenderSettleMode: amqp.SenderSettleModeMixed.Ptr(),
		Filters:                   []amqp.LinkFilter{amqp.NewSelectorFilter(start.selector())},
		Properties:                props,
		TargetAddress:             r.name,
	})
	if err != nil {
		go closeQuietly(s.Close)
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		go closeQuietly(s.Close)
		return nil, ErrClosed
	}
	r.sess, r.link = s, link
	r.failures = 0
	return link, nil
}

// recover handles a failure of the link: it returns the error to give the
// caller when retrying cannot help, and otherwise waits the backoff
// (the first retry is immediate) so that the next attach can succeed.
func (r *PartitionReceiver) recover(ctx context.Context, err error) error {
	r.mu.Lock()
	sess, ref, closed := r.sess, r.ref, r.closed
	r.sess, r.link = nil, nil
	r.mu.Unlock()
	if sess != nil {
		go closeQuietly(sess.Close)
	}
	if closed {
		return ErrClosed
	}
	var he *iothub.Error
	if errors.As(err, &he) {
		if !iothub.IsRetriable(he) {
			return err
		}
	} else {
		switch act := amqpconn.Classify(err); {
		case condition(err) == amqp.ErrCondLinkRedirect && ref.ep != nil:
			r.c.forget(ref.ep) // the endpoint moved: ask the hub again
		case act == amqpconn.Fatal:
			return linkError(err)
		case act == amqpconn.RecreateConn:
			ref.reset()
		}
	}
	r.failures++
	if r.failures > r.c.maxRetries() {
		return linkError(err)
	}
	r.c.log(ctx, "iothub: partition receiver recovering", slogPartition(r.id), slogErr(err), slogInt("failure", r.failures))
	if r.failures > 1 {
		return iothub.Sleep(ctx, r.c.backoff(r.failures-1))
	}
	return nil
}

// Close detaches the receiver. A Receive in progress returns what it holds
// or ErrClosed.
func (r *PartitionReceiver) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	sess := r.sess
	r.sess, r.link = nil, nil
	r.mu.Unlock()
	r.c.releaseSlot(r.slot)
	if sess != nil {
		return sess.Close(ctx)
	}
	return nil
}

// lastSequenceNumber returns the sequence number of the last event handed
// out, if any.
func (r *PartitionReceiver) lastSequenceNumber() (int64, bool) {
	return r.last, r.resumed
}
