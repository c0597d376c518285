package eventhub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Strategy is how a Processor takes its share of the partitions.
type Strategy int

const (
	// StrategyBalanced takes free partitions up to the Processor's share at
	// once, and asks busier Processors to hand partitions over rather than
	// stealing them: a Processor above its share checkpoints what it
	// handled and relinquishes the surplus, so the newcomer resumes exactly
	// where it stopped. It steals only to announce itself (when it owns
	// nothing) and from a Processor that stays above its share for two
	// update intervals.
	StrategyBalanced Strategy = iota
	// StrategyGreedy takes its whole share at once, stealing from busier
	// Processors straight away; faster to balance, more events read twice.
	StrategyGreedy
)

// String names the strategy.
func (s Strategy) String() string {
	if s == StrategyGreedy {
		return "greedy"
	}
	return "balanced"
}

// StartPositions say where a Processor starts reading a partition that has
// no checkpoint.
type StartPositions struct {
	// Default applies to every partition not in PerPartition. Unlike a
	// receiver's, a Processor's zero StartPosition means Earliest, so that
	// no event is missed; set Latest to skip the backlog.
	Default StartPosition
	// PerPartition overrides Default for some partitions, by id.
	PerPartition map[string]StartPosition
}

// ProcessorOptions configure a Processor. A nil *ProcessorOptions accepts
// the defaults.
type ProcessorOptions struct {
	// Strategy is how partitions are claimed.
	// Default: StrategyBalanced.
	Strategy Strategy
	// UpdateInterval is how often the Processor renews its ownerships and
	// looks at the others'. While it owns less than its share it looks
	// four times as often.
	// Default: 10 s.
	UpdateInterval time.Duration
	// PartitionExpiration is how long an ownership that is not renewed
	// lasts: a Processor that stops without relinquishing (a crash) keeps
	// its partitions that long.
	// Default: 60 s.
	PartitionExpiration time.Duration
	// StartPositions say where partitions without a checkpoint start.
	// Default: Earliest.
	StartPositions StartPositions
	// Prefetch is each partition receiver's prefetch (see ReceiverOptions);
	// the Processor holds at most Prefetch + MaxBatchSize events per owned
	// partition.
	// Default: 300.
	Prefetch int
	// MaxBatchSize is the most events handed to one ProcessEvents call.
	// Default: 100.
	MaxBatchSize int
	// MaxWaitTime is how long the Processor waits for a batch to fill once
	// its first event has arrived: ProcessEvents is called when
	// MaxBatchSize events are in hand or MaxWaitTime has passed since the
	// first, whichever comes first. Larger batches suit handlers that pay
	// per call (a database write, an upload); events wait up to MaxWaitTime
	// longer. Zero hands over what has arrived at once, without waiting;
	// either way ProcessEvents never gets an empty batch.
	// Default: 0.
	MaxWaitTime time.Duration
	// CheckpointEvery makes the Processor checkpoint a partition itself
	// after every CheckpointEvery events the handler returned from, and
	// when the partition is closed on shutdown or handed over. Zero leaves
	// checkpoints to the handler (PartitionContext.Checkpoint).
	// Default: 0.
	CheckpointEvery int
	// CheckpointInterval makes the Processor checkpoint a partition that
	// has handled events at least this often (and on close, as
	// CheckpointEvery). Zero: no timed checkpoints.
	// Default: 0.
	CheckpointInterval time.Duration
	// TrackLastEnqueued makes each partition's receiver ask for where the
	// partition ends with every event (ReceiverOptions.TrackLastEnqueued),
	// which PartitionContext.LastEnqueued reports, so a handler can tell
	// how far behind it is.
	// Default: false.
	TrackLastEnqueued bool
	// OwnerID identifies this Processor in ownership records. A Processor
	// that starts with the id of one that stopped without relinquishing (a
	// crash, a SIGKILL) takes that one's partitions back at once; with a
	// new id it waits up to PartitionExpiration for them to expire. Set it
	// to something stable per process instance that no live process shares:
	// a StatefulSet pod's name, a systemd instance, a host name when one
	// Processor runs per host. Never give two live Processors the same id:
	// both would read the same partitions.
	// Default: from a store that hands out stable ids (a
	// [github.com/iotkit-go/iothub/eventhub/checkpoints.FileStore]
	// does: the slot of a dead process of the same directory), else random.
	OwnerID string
	// Logger receives debug records of claims, releases and partition
	// changes. Default: the consumer's logger.
	Logger *slog.Logger
}

// CloseReason says why a partition was closed.
type CloseReason int

const (
	// CloseReasonShutdown: Run is returning.
	CloseReasonShutdown CloseReason = iota
	// CloseReasonOwnershipLost: another Processor claimed the partition
	// (or took its receiver over); nothing is checkpointed.
	CloseReasonOwnershipLost
	// CloseReasonRebalanced: this Processor handed the partition over to
	// balance the load, after checkpointing what it handled.
	CloseReasonRebalanced
	// CloseReasonError: the receiver failed; the Processor tries the
	// partition again at its next update.
	CloseReasonError
)

// String names the reason.
func (r CloseReason) String() string {
	switch r {
	case CloseReasonShutdown:
		return "shutdown"
	case CloseReasonOwnershipLost:
		return "ownership lost"
	case CloseReasonRebalanced:
		return "rebalanced"
	case CloseReasonError:
		return "error"
	}
	return fmt.Sprintf("CloseReason(%d)", int(r))
}

// Handler handles the events of the partitions a Processor owns.
// ProcessEvents is called with each batch of a partition in order, from
// one goroutine per partition (different partitions run concurrently). A
// nil return marks the batch handled (an automatic checkpoint may then
// include it); an error stops the Processor: Run closes every partition and
// returns that error. ctx ends when the partition is closed; return soon
// after. A Handler may also implement PartitionOpener and PartitionCloser.
type Handler interface {
	ProcessEvents(ctx context.Context, partition *PartitionContext, events []*Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, partition *PartitionContext, events []*Event) error

// ProcessEvents calls f.
func (f HandlerFunc) ProcessEvents(ctx context.Context, p *PartitionContext, events []*Event) error {
	return f(ctx, p, events)
}

// PartitionOpener is implemented by Handlers that want to know when the
// Processor starts reading a partition. An error stops the Processor.
type PartitionOpener interface {
	OpenPartition(ctx context.Context, partition *PartitionContext) error
}

// PartitionCloser is implemented by Handlers that want to know when the
// Processor stops reading a partition, and why. err is the receiver's
// error for CloseReasonError, ErrOwnershipLost for CloseReasonOwnershipLost
// and nil otherwise.
type PartitionCloser interface {
	ClosePartition(ctx context.Context, partition *PartitionContext, reason CloseReason, err error)
}

// PartitionContext is a partition as a Handler sees it, from its opening
// to its close.
type PartitionContext struct {
	// PartitionID is the partition.
	PartitionID string
	// Namespace, EventHub and ConsumerGroup name what is read, as the
	// checkpoint store records them.
	Namespace, EventHub, ConsumerGroup string
	// Start is where reading started: after the checkpoint, or the start
	// position of a partition without one.
	Start StartPosition

	p    *Processor
	rcv  *PartitionReceiver // set before the handler sees the context
	lost atomic.Bool

	writeMu sync.Mutex    // one checkpoint write at a time, never backwards
	due     chan struct{} // wakes the automatic checkpoint writer

	mu             sync.Mutex // guards what follows
	lastHandled    *Event
	handledSince   int // events handled since the last checkpoint was due
	lastCheckpoint int64
	hasCheckpoint  bool
	checkpointedAt time.Time
}

// LastEnqueued returns the partition's newest event as the service last
// reported it, and false until it has (always false without
// ProcessorOptions.TrackLastEnqueued). LastEnqueued().Lag(ev) is how many
// events the partition held after ev.
func (pc *PartitionContext) LastEnqueued() (LastEnqueued, bool) {
	if pc.rcv == nil {
		return LastEnqueued{}, false
	}
	return pc.rcv.LastEnqueued()
}

// Checkpoint records that ev, and every event of the partition before it,
// has been handled: a Processor that reads the partition next resumes
// after ev. It fails with ErrOwnershipLost once the partition has gone to
// another Processor. Checkpointing an event older than the last checkpoint
// does nothing.
func (pc *PartitionContext) Checkpoint(ctx context.Context, ev *Event) error {
	if ev == nil {
		return errors.New("iothub: Checkpoint needs an event")
	}
	if pc.lost.Load() {
		return ErrOwnershipLost
	}
	return pc.write(ctx, ev)
}

// write stores a checkpoint at ev unless a later one is already stored.
// Writes are serialised, and the store is not called with pc.mu held, so
// that the partition's reading goes on while a checkpoint is written.
func (pc *PartitionContext) write(ctx context.Context, ev *Event) error {
	pc.writeMu.Lock()
	defer pc.writeMu.Unlock()
	pc.mu.Lock()
	stale := pc.hasCheckpoint && ev.SequenceNumber <= pc.lastCheckpoint
	pc.mu.Unlock()
	if stale {
		return nil
	}
	seq, off := ev.SequenceNumber, ev.Offset
	cp := Checkpoint{Namespace: pc.Namespace, EventHub: pc.EventHub, ConsumerGroup: pc.ConsumerGroup,
		PartitionID: pc.PartitionID, SequenceNumber: &seq}
	if off != "" {
		cp.Offset = &off
	}
	if err := pc.p.store.SetCheckpoint(ctx, cp); err != nil {
		return err
	}
	pc.mu.Lock()
	pc.lastCheckpoint, pc.hasCheckpoint = seq, true
	pc.checkpointedAt = time.Now()
	pc.mu.Unlock()
	return nil
}

// autoCheckpoints tells whether the options ask for automatic checkpoints.
func (p *Processor) autoCheckpoints() bool {
	return p.opts.CheckpointEvery > 0 || p.opts.CheckpointInterval > 0
}

// handled records a batch the handler returned from, and wakes the
// automatic checkpoint writer when a checkpoint is due.
func (pc *PartitionContext) handled(events []*Event) {
	pc.mu.Lock()
	pc.lastHandled = events[len(events)-1]
	pc.handledSince += len(events)
	o := &pc.p.opts
	due := (o.CheckpointEvery > 0 && pc.handledSince >= o.CheckpointEvery) ||
		(o.CheckpointInterval > 0 && time.Since(pc.checkpointedAt) >= o.CheckpointInterval)
	if due {
		pc.handledSince = 0
	}
	pc.mu.Unlock()
	if due {
		select {
		case pc.due <- struct{}{}:
		default: // a write is already pending; it takes the latest event
		}
	}
}

// writeCheckpoints is the automatic checkpoint writer of a partition: it
// writes the last handled event when handled says a checkpoint is due, and
// every CheckpointInterval for a partition that went quiet, until ctx ends.
// A slow store delays checkpoints, never the reading.
func (pc *PartitionContext) writeCheckpoints(ctx context.Context) {
	var tick <-chan time.Time
	if iv := pc.p.opts.CheckpointInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-pc.due:
		case <-tick:
			pc.mu.Lock()
			quiet := time.Since(pc.checkpointedAt) >= pc.p.opts.CheckpointInterval
			pc.mu.Unlock()
			if !quiet {
				continue
			}
		}
		pc.mu.Lock()
		ev := pc.lastHandled
		pc.mu.Unlock()
		if ev == nil || pc.lost.Load() {
			continue
		}
		if err := pc.write(ctx, ev); err != nil && ctx.Err() == nil {
			pc.p.log(ctx, "iothub: automatic checkpoint failed", slogPartition(pc.PartitionID), slogErr(err))
		}
	}
}

// checkpointOnClose records the last event handled when automatic
// checkpoints are on: on shutdown and handover, and also when a renewal
// found the partition taken, since every event up to the last handled
// one really was handled; the thief waits an update interval before it
// reads the checkpoint, so it starts right after it.
func (pc *PartitionContext) checkpointOnClose(ctx context.Context) error {
	if !pc.p.autoCheckpoints() {
		return nil
	}
	pc.mu.Lock()
	ev := pc.lastHandled
	pc.mu.Unlock()
	if ev == nil {
		return nil
	}
	return pc.write(ctx, ev)
}

// Processor reads every partition of a hub's built-in endpoint in one
// consumer group, sharing them with every other Processor that uses the
// same CheckpointStore: each partition is owned by one Processor at a
// time, the owners renew their claims every UpdateInterval, and a
// Processor that stops hands its partitions over at once.
//
// Delivery is at least once. Events after a partition's last checkpoint
// are read again when the partition changes owner without a handover (a
// crash, or a steal); a Processor that stops or rebalances with automatic
// checkpoints on checkpoints the events it handled first, so the next
// owner reads nothing twice.
type Processor struct {
	c       *Consumer
	store   CheckpointStore
	opts    ProcessorOptions
	ownerID string
	running atomic.Bool
}

// NewProcessor returns a Processor reading through consumer, with
// ownership and checkpoints in store. opts may be nil.
func NewProcessor(consumer *Consumer, store CheckpointStore, opts *ProcessorOptions) (*Processor, error) {
	if consumer == nil || store == nil {
		return nil, errors.New("iothub: NewProcessor needs a consumer and a checkpoint store")
	}
	var o ProcessorOptions
	if opts != nil {
		o = *opts
	}
	if o.UpdateInterval <= 0 {
		o.UpdateInterval = 10 * time.Second
	}
	if o.PartitionExpiration <= 0 {
		o.PartitionExpiration = 60 * time.Second
	}
	if o.PartitionExpiration < o.UpdateInterval {
		return nil, errors.New("iothub: PartitionExpiration must be at least UpdateInterval")
	}
	if o.Prefetch <= 0 {
		o.Prefetch = DefaultPrefetch
	}
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = 100
	}
	if o.MaxWaitTime < 0 {
		return nil, fmt.Errorf("iothub: ProcessorOptions.MaxWaitTime is %s; want 0 (no wait) or more", o.MaxWaitTime)
	}
	if o.OwnerID == "" {
		if s, ok := store.(ownerIDSource); ok {
			id, err := s.OwnerID()
			if err != nil {
				return nil, fmt.Errorf("iothub: taking an owner id from the checkpoint store: %w", err)
			}
			o.OwnerID = id
		}
	}
	if o.OwnerID == "" {
		o.OwnerID = "iothub-go-" + randomName()
	}
	if o.Logger == nil {
		o.Logger = consumer.opts.Logger
	}
	return &Processor{c: consumer, store: store, opts: o, ownerID: o.OwnerID}, nil
}

// ownerIDSource is a CheckpointStore that hands out owner ids a restarted
// process gets again, and no two live processes share.
type ownerIDSource interface {
	OwnerID() (string, error)
}

// OwnerID returns the id this Processor claims partitions under.
func (p *Processor) OwnerID() string { return p.ownerID }

// startFor returns where a partition without a checkpoint starts.
func (p *Processor) startFor(partitionID string) StartPosition {
	if sp, ok := p.opts.StartPositions.PerPartition[partitionID]; ok {
		return defaultEarliest(sp)
	}
	return defaultEarliest(p.opts.StartPositions.Default)
}

func defaultEarliest(sp StartPosition) StartPosition {
	if sp == (StartPosition{}) {
		sp.Earliest = true
	}
	return sp
}

func (p *Processor) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if p.opts.Logger == nil || !p.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs = append(attrs, slog.String("owner", p.ownerID))
	p.opts.Logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}
