package eventhub

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"
)

// pump reads one owned partition.
type pump struct {
	pc     *PartitionContext
	cancel context.CancelFunc
	done   chan struct{}
	// reason is set before cancel, read by the pump after its context
	// ends (zero, shutdown, when Run's context ended first).
	reason atomic.Int32
}

// pumpExit is what a pump reports when it ends on its own.
type pumpExit struct {
	id      string
	pump    *pump
	reason  CloseReason
	err     error
	handler bool // err came from the handler: stop the Processor
}

// run is the state of one Run call; only its goroutine touches it.
type run struct {
	ctx        context.Context // Run's: the pumps' parent
	p          *Processor
	h          Handler
	ns, eh, cg string
	partitions []string
	owned      map[string]Ownership // records this Processor holds, by partition
	pumps      map[string]*pump
	exits      chan pumpExit
	overSince  map[string]time.Time // when each busier owner was first seen above its share
	quit       chan struct{}        // closed when Run stops reading exits
	etags      map[string]etagSeen  // when each record's ETag was first seen
}

// Run reads the partitions this Processor wins until ctx ends or the
// handler fails, and returns nil or the handler's error (or the error that
// kept it from starting: the hub or the store unreachable). On return every
// partition has been closed, and relinquished in the store so that other
// Processors take them over at their next update. Run may be called again
// after it returns, not concurrently.
func (p *Processor) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("iothub: Run needs a handler")
	}
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("iothub: Processor is already running")
	}
	defer p.running.Store(false)
	ns, eh, err := p.c.EventHub(ctx)
	if err != nil {
		return err
	}
	props, err := p.c.Properties(ctx)
	if err != nil {
		return err
	}
	r := &run{
		ctx: ctx, p: p, h: h, ns: ns, eh: eh, cg: p.c.group, partitions: props.PartitionIDs,
		owned: map[string]Ownership{}, pumps: map[string]*pump{},
		exits: make(chan pumpExit, len(props.PartitionIDs)), overSince: map[string]time.Time{},
		quit: make(chan struct{}), etags: map[string]etagSeen{},
	}
	var runErr error
	timer := time.NewTimer(0)
	defer timer.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case x := <-r.exits:
			if r.exited(ctx, x) {
				runErr = x.err
				break loop
			}
		case <-timer.C:
			// An update is not cut short by Run's end: a claim whose answer
			// was lost would leave records only expiry can free.
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.UpdateInterval+10*time.Second)
			under, err := r.balance(bctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				p.log(ctx, "iothub: load balancing failed; trying again at the next update", slogErr(err))
			}
			next := p.opts.UpdateInterval
			if under {
				next /= 4
			}
			timer.Reset(next)
		}
	}
	r.stopAll(CloseReasonShutdown)
	return runErr
}

// exited handles a pump that ended on its own; true stops the Processor.
func (r *run) exited(ctx context.Context, x pumpExit) bool {
	if x.handler {
		return true
	}
	if r.pumps[x.id] != x.pump {
		return false // a pump stopped since; its report is stale
	}
	<-x.pump.done
	delete(r.pumps, x.id)
	if x.reason == CloseReasonOwnershipLost {
		// Another Processor's receiver took the partition over: it owns
		// the record now, or will at its next claim.
		delete(r.owned, x.id)
	}
	r.p.log(ctx, "iothub: partition closed", slogPartition(x.id), slog.String("reason", x.reason.String()))
	return false
}

// stopAll closes every partition and relinquishes them.
func (r *run) stopAll(reason CloseReason) {
	close(r.quit)
	for id := range r.pumps {
		r.stop(id, reason)
	}
	r.relinquish(r.ids(r.owned))
}

// stop closes one partition and waits for its pump.
func (r *run) stop(id string, reason CloseReason) {
	pm := r.pumps[id]
	if pm == nil {
		return
	}
	if reason == CloseReasonOwnershipLost {
		pm.pc.lost.Store(true)
	}
	pm.reason.Store(int32(reason))
	pm.cancel()
	<-pm.done
	delete(r.pumps, id)
}

// relinquish frees records this Processor holds, so others claim them
// without waiting for them to expire.
func (r *run) relinquish(ids []string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var free []Ownership
	for _, id := range ids {
		o := r.owned[id]
		o.OwnerID = ""
		free = append(free, o)
		delete(r.owned, id)
	}
	won, err := r.p.store.ClaimOwnership(ctx, free)
	if err == nil && len(won) == len(free) {
		return
	}
	// Some ETags were stale (a claim whose answer was lost): free what the
	// store still says is ours, with the ETags it has now.
	all, err := r.p.store.ListOwnership(ctx, r.ns, r.eh, r.cg)
	if err == nil {
		free = free[:0]
		for _, o := range all {
			if o.OwnerID == r.p.ownerID && slices.Contains(ids, o.PartitionID) {
				o.OwnerID = ""
				free = append(free, o)
			}
		}
		_, err = r.p.store.ClaimOwnership(ctx, free)
	}
	if err != nil {
		r.p.log(ctx, "iothub: relinquishing partitions failed; they free up when they expire", slogErr(err))
	}
}

func (r *run) ids(m map[string]Ownership) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	return ids
}

// start opens a pump on a partition this Processor has just claimed.
//
// A stolen partition is read only after delay: its previous owner notices
// the loss at its next update, checkpoints what it handled and stops, so
// that this Processor starts after that checkpoint instead of reading the
// events again.
func (r *run) start(ctx context.Context, id string, delay time.Duration) {
	pctx, cancel := context.WithCancel(ctx)
	pc := &PartitionContext{PartitionID: id, Namespace: r.ns, EventHub: r.eh, ConsumerGroup: r.cg, p: r.p,
		checkpointedAt: time.Now(), due: make(chan struct{}, 1)}
	pm := &pump{pc: pc, cancel: cancel, done: make(chan struct{})}
	r.pumps[id] = pm
	go func() {
		defer close(pm.done)
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-pctx.Done():
			}
			t.Stop()
		}
		reason, err, byHandler := r.p.read(pctx, pc, r.h)
		if pctx.Err() != nil && !byHandler {
			reason = CloseReason(pm.reason.Load())
			err = nil
			if reason == CloseReasonOwnershipLost {
				err = ErrOwnershipLost
			}
		}
		// A receiver taken over by an owner level has a successor reading
		// already; a checkpoint would come too late to help it.
		kicked := reason == CloseReasonOwnershipLost && pctx.Err() == nil
		if !byHandler && reason != CloseReasonError && !kicked {
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			if cerr := pc.checkpointOnClose(cctx); cerr != nil {
				r.p.log(cctx, "iothub: final checkpoint failed", slogPartition(id), slogErr(cerr))
			}
			ccancel()
		}
		if c, ok := r.h.(PartitionCloser); ok {
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.ClosePartition(cctx, pc, reason, err)
			ccancel()
		}
		if pctx.Err() == nil || byHandler {
			select {
			case r.exits <- pumpExit{id: id, pump: pm, reason: reason, err: err, handler: byHandler}:
			case <-r.quit:
			}
		}
	}()
}

// read runs the partition until ctx ends or something fails; it returns
// the reason to close with, the error, and whether the handler failed.
func (p *Processor) read(ctx context.Context, pc *PartitionContext, h Handler) (CloseReason, error, bool) {
	cps, err := p.store.ListCheckpoints(ctx, pc.Namespace, pc.EventHub, pc.ConsumerGroup)
	if err != nil {
		return CloseReasonError, err, false
	}
	pc.Start = p.startFor(pc.PartitionID)
	for _, cp := range cps {
		if cp.PartitionID != pc.PartitionID {
			continue
		}
		switch {
		case cp.SequenceNumber != nil:
			seq := *cp.SequenceNumber
			pc.Start = StartPosition{SequenceNumber: &seq}
			pc.lastCheckpoint, pc.hasCheckpoint = seq, true
		case cp.Offset != nil:
			off := *cp.Offset
			pc.Start = StartPosition{Offset: &off}
		}
	}
	zero := int64(0)
	rcv, err := p.c.NewPartitionReceiver(pc.PartitionID, &ReceiverOptions{StartPosition: pc.Start, OwnerLevel: &zero, Prefetch: p.opts.Prefetch, TrackLastEnqueued: p.opts.TrackLastEnqueued})
	if err != nil {
		return CloseReasonError, err, false
	}
	pc.rcv = rcv
	// Detaching waits for the service's answer; the partition is free for
	// the next owner as soon as the handover is recorded, so do not wait.
	defer func() { go closeQuietly(rcv.Close) }()
	if o, ok := h.(PartitionOpener); ok {
		if err := o.OpenPartition(ctx, pc); err != nil {
			return CloseReasonError, err, true
		}
	}
	p.log(ctx, "iothub: partition opened", slogPartition(pc.PartitionID))
	if p.autoCheckpoints() {
		go pc.writeCheckpoints(ctx)
	}
	for {
		events, err := rcv.receive(ctx, p.opts.MaxBatchSize, false, p.opts.MaxWaitTime)
		if ctx.Err() != nil {
			// Events in hand are not handed out: nothing is checkpointed
			// past what the handler finished.
			return CloseReasonShutdown, nil, false
		}
		if err != nil {
			if errors.Is(err, ErrOwnershipLost) {
				pc.lost.Store(true)
				return CloseReasonOwnershipLost, err, false
			}
			return CloseReasonError, err, false
		}
		if err := h.ProcessEvents(ctx, pc, events); err != nil {
			if ctx.Err() != nil {
				return CloseReasonShutdown, nil, false
			}
			return CloseReasonError, err, true
		}
		// Handled, even if the partition is closing meanwhile: a final
		// checkpoint may include the batch.
		pc.handled(events)
	}
}
