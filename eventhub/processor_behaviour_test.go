package eventhub_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// recorder is a Handler that records opens, closes and events.
type recorder struct {
	*seen
	mu     sync.Mutex
	opened map[string]eventhub.StartPosition
	closed map[string][]eventhub.CloseReason
	errs   map[string]error
	fail   error
}

func newRecorder(s *seen) *recorder {
	return &recorder{seen: s, opened: map[string]eventhub.StartPosition{}, closed: map[string][]eventhub.CloseReason{}, errs: map[string]error{}}
}

func (r *recorder) ProcessEvents(_ context.Context, _ *eventhub.PartitionContext, evs []*eventhub.Event) error {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		return fail
	}
	r.add(evs)
	return nil
}

func (r *recorder) OpenPartition(_ context.Context, pc *eventhub.PartitionContext) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opened[pc.PartitionID] = pc.Start
	return nil
}

func (r *recorder) ClosePartition(_ context.Context, pc *eventhub.PartitionContext, reason eventhub.CloseReason, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed[pc.PartitionID] = append(r.closed[pc.PartitionID], reason)
	r.errs[pc.PartitionID] = err
}

func (r *recorder) reasons() map[eventhub.CloseReason]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[eventhub.CloseReason]int{}
	for _, rs := range r.closed {
		for _, x := range rs {
			m[x]++
		}
	}
	return m
}

// TestProcessorHandoverReadsNothingTwice: a second Processor joins; it
// takes one partition to announce itself, and the first hands another over;
// both times the first checkpoints what it handled before it stops, and
// the newcomer starts right after that, so no event is read twice.
func TestProcessorHandoverReadsNothingTwice(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 4)
	ctx := timeout(t, 60*time.Second)
	store := checkpoints.NewMemoryStore()
	opts := &eventhub.ProcessorOptions{UpdateInterval: 200 * time.Millisecond, PartitionExpiration: 2 * time.Second, CheckpointEvery: 1000}
	s := newSeen()
	a := newRecorder(s)
	pa := startProcessor(t, h, store, opts, a)
	h.sendAll(t, 50)
	s.waitAll(t, ctx, h)

	b := newRecorder(s)
	pb := startProcessor(t, h, store, opts, b)
	probe := newConsumer(t, h.ConnectionString(), nil)
	require.Eventually(t, func() bool {
		return balanced(ownersOf(t, ctx, store, probe), 4, []string{pa.p.OwnerID(), pb.p.OwnerID()})
	}, 20*time.Second, 10*time.Millisecond)
	h.sendAll(t, 50)
	s.waitAll(t, ctx, h)

	s.mu.Lock()
	dups := s.dups
	s.mu.Unlock()
	// B announces itself by taking one partition, A hands another over.
	ra := a.reasons()
	assert.Equal(t, 2, ra[eventhub.CloseReasonRebalanced]+ra[eventhub.CloseReasonOwnershipLost], "A gave two partitions up: %v", ra)
	assert.GreaterOrEqual(t, ra[eventhub.CloseReasonRebalanced], 1, "%v", ra)
	b.mu.Lock()
	for id, start := range b.opened {
		if assert.NotNil(t, start.SequenceNumber, "B starts %s after A's checkpoint", id) {
			assert.Equal(t, int64(49), *start.SequenceNumber)
		}
	}
	b.mu.Unlock()
	assert.Zero(t, dups, "nothing read twice across the handover")

	pa.stop(t)
	assert.Equal(t, 2, a.reasons()[eventhub.CloseReasonShutdown])
}

// TestProcessorGreedySteals: a greedy Processor takes its share at once;
// the owner it steals from closes those partitions with
// CloseReasonOwnershipLost and cannot checkpoint them any more.
func TestProcessorGreedySteals(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 4)
	ctx := timeout(t, 60*time.Second)
	store := checkpoints.NewMemoryStore()
	s := newSeen()
	a := newRecorder(s)
	pa := startProcessor(t, h, store, &eventhub.ProcessorOptions{UpdateInterval: time.Hour, PartitionExpiration: 2 * time.Hour}, a)
	probe := newConsumer(t, h.ConnectionString(), nil)
	require.Eventually(t, func() bool { return len(ownersOf(t, ctx, store, probe)) == 4 }, 20*time.Second, 10*time.Millisecond)

	b := newRecorder(s)
	pb := startProcessor(t, h, store, &eventhub.ProcessorOptions{Strategy: eventhub.StrategyGreedy, UpdateInterval: 200 * time.Millisecond, PartitionExpiration: 2 * time.Second}, b)
	require.Eventually(t, func() bool {
		return balanced(ownersOf(t, ctx, store, probe), 4, []string{pa.p.OwnerID(), pb.p.OwnerID()})
	}, 20*time.Second, 10*time.Millisecond)
	// A (which looks only once an hour) learns from its receivers, which
	// B's owner-level receivers took over.
	require.Eventually(t, func() bool { return a.reasons()[eventhub.CloseReasonOwnershipLost] == 2 }, 20*time.Second, 10*time.Millisecond)
	a.mu.Lock()
	for id, err := range a.errs {
		if err != nil {
			assert.ErrorIs(t, err, eventhub.ErrOwnershipLost, id)
		}
	}
	a.mu.Unlock()
	h.sendAll(t, 10)
	s.waitAll(t, ctx, h)
}

// TestProcessorHandlerError: a handler error stops Run, which returns it
// and frees the partitions.
func TestProcessorHandlerError(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	ctx := timeout(t, 30*time.Second)
	store := checkpoints.NewMemoryStore()
	r := newRecorder(newSeen())
	boom := errors.New("boom")
	r.fail = boom
	h.sendAll(t, 1)
	c := newConsumer(t, h.ConnectionString(), nil)
	p, err := eventhub.NewProcessor(c, store, &eventhub.ProcessorOptions{UpdateInterval: 200 * time.Millisecond, PartitionExpiration: time.Second, CheckpointEvery: 1})
	require.NoError(t, err)
	err = p.Run(ctx, r)
	require.ErrorIs(t, err, boom)
	assert.Empty(t, ownersOf(t, ctx, store, c), "partitions relinquished")
	ns, eh, _ := c.EventHub(ctx)
	cps, err := store.ListCheckpoints(ctx, ns, eh, c.ConsumerGroup())
	require.NoError(t, err)
	assert.Empty(t, cps, "nothing the handler failed on is checkpointed")

	require.Error(t, p.Run(ctx, nil))
}

// TestProcessorCheckpointInterval: a partition that handled events and
// went quiet is checkpointed within CheckpointInterval, while Run goes on.
func TestProcessorCheckpointInterval(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	ctx := timeout(t, 30*time.Second)
	store := checkpoints.NewMemoryStore()
	s := newSeen()
	startProcessor(t, h, store, &eventhub.ProcessorOptions{UpdateInterval: time.Second, PartitionExpiration: 5 * time.Second, CheckpointInterval: 100 * time.Millisecond}, s.handler())
	h.send(t, 1, 5)
	s.waitAll(t, ctx, h)
	c := newConsumer(t, h.ConnectionString(), nil)
	ns, eh, err := c.EventHub(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cps, err := store.ListCheckpoints(ctx, ns, eh, c.ConsumerGroup())
		require.NoError(t, err)
		return len(cps) == 1 && cps[0].PartitionID == "1" && *cps[0].SequenceNumber == 4
	}, 10*time.Second, 10*time.Millisecond)
}

// crashableStore fails every call once crashed, as a process that died
// (or lost its network) would stop renewing without relinquishing.
type crashableStore struct {
	eventhub.CheckpointStore
	crashed atomic.Bool
}

var errCrashed = errors.New("crashed")

func (s *crashableStore) ListOwnership(ctx context.Context, ns, eh, cg string) ([]eventhub.Ownership, error) {
	if s.crashed.Load() {
		return nil, errCrashed
	}
	return s.CheckpointStore.ListOwnership(ctx, ns, eh, cg)
}

func (s *crashableStore) ClaimOwnership(ctx context.Context, o []eventhub.Ownership) ([]eventhub.Ownership, error) {
	if s.crashed.Load() {
		return nil, errCrashed
	}
	return s.CheckpointStore.ClaimOwnership(ctx, o)
}

func (s *crashableStore) SetCheckpoint(ctx context.Context, c eventhub.Checkpoint) error {
	if s.crashed.Load() {
		return errCrashed
	}
	return s.CheckpointStore.SetCheckpoint(ctx, c)
}

// TestProcessorCrashExpiry: a Processor that stops renewing without
// relinquishing (a crash) loses its partitions to the others once its
// ownerships expire: within PartitionExpiration + UpdateInterval.
func TestProcessorCrashExpiry(t *testing.T) {
	// Not parallel: the time measured is the balancer's.
	h := newTestHub(t, 4)
	ctx := timeout(t, 60*time.Second)
	mem := checkpoints.NewMemoryStore()
	const interval, expiration = 200 * time.Millisecond, time.Second
	opts := &eventhub.ProcessorOptions{UpdateInterval: interval, PartitionExpiration: expiration, CheckpointEvery: 10}
	s := newSeen()
	crashing := &crashableStore{CheckpointStore: mem}
	pa := startProcessor(t, h, crashing, opts, s.handler())
	pb := startProcessor(t, h, mem, opts, s.handler())
	probe := newConsumer(t, h.ConnectionString(), nil)
	require.Eventually(t, func() bool {
		return balanced(ownersOf(t, ctx, mem, probe), 4, []string{pa.p.OwnerID(), pb.p.OwnerID()})
	}, 20*time.Second, 10*time.Millisecond)
	h.sendAll(t, 20)
	s.waitAll(t, ctx, h)

	crashing.crashed.Store(true)
	start := time.Now()
	require.Eventually(t, func() bool {
		return balanced(ownersOf(t, ctx, mem, probe), 4, []string{pb.p.OwnerID()})
	}, 20*time.Second, 10*time.Millisecond)
	took := time.Since(start)
	t.Logf("a crashed Processor's partitions were taken over in %v (expiration %v + interval %v)", took.Round(time.Millisecond), expiration, interval)
	assert.Less(t, took, expiration+2*interval)
	h.sendAll(t, 20)
	s.waitAll(t, ctx, h)
	s.mu.Lock()
	t.Logf("events handled: %d, duplicates: %d", s.total, s.dups)
	s.mu.Unlock()
	pa.cancel()
}

// TestProcessorMaxWaitTime: with MaxWaitTime, a batch is handed over when
// it is full or MaxWaitTime after its first event, never sooner; shutting
// down does not wait for a batch to fill.
func TestProcessorMaxWaitTime(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 1)
	ctx := timeout(t, 60*time.Second)
	const wait = 3 * time.Second
	type batch struct {
		size int
		at   time.Time
	}
	batches := make(chan batch, 100)
	handler := eventhub.HandlerFunc(func(_ context.Context, _ *eventhub.PartitionContext, evs []*eventhub.Event) error {
		batches <- batch{len(evs), time.Now()}
		return nil
	})
	rp := startProcessor(t, h, checkpoints.NewMemoryStore(), &eventhub.ProcessorOptions{MaxBatchSize: 10, MaxWaitTime: wait}, handler)
	next := func() batch {
		select {
		case b := <-batches:
			return b
		case <-ctx.Done():
			t.Fatal("no batch")
			return batch{}
		}
	}

	// A lone event waits MaxWaitTime for company.
	sent := time.Now()
	h.send(t, 0, 1)
	b := next()
	assert.Equal(t, 1, b.size)
	assert.GreaterOrEqual(t, b.at.Sub(sent), wait, "handed over before MaxWaitTime")

	// Events trickling in fill one batch, handed over as soon as it is full.
	for range 10 {
		h.send(t, 0, 1)
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, 10, next().size)

	// A partial batch goes out after MaxWaitTime.
	sent = time.Now()
	h.send(t, 0, 3)
	b = next()
	assert.Equal(t, 3, b.size)
	assert.GreaterOrEqual(t, b.at.Sub(sent), wait)

	// Stopping while a batch fills returns without waiting it out, and
	// without handing the partial batch to the handler.
	h.send(t, 0, 1)
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	rp.stop(t)
	assert.Less(t, time.Since(stopped), wait, "Run waited for the batch to fill")
	select {
	case b := <-batches:
		t.Fatalf("a batch of %d was handed over during shutdown", b.size)
	default:
	}
}

func TestProcessorOptionErrors(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 1)
	c := newConsumer(t, h.ConnectionString(), nil)
	_, err := eventhub.NewProcessor(c, checkpoints.NewMemoryStore(), &eventhub.ProcessorOptions{MaxWaitTime: -time.Second})
	require.ErrorContains(t, err, "MaxWaitTime is -1s")
	_, err = eventhub.NewProcessor(c, nil, nil)
	require.Error(t, err)
	_, err = eventhub.NewProcessor(c, checkpoints.NewMemoryStore(), &eventhub.ProcessorOptions{UpdateInterval: time.Minute, PartitionExpiration: time.Second})
	require.ErrorContains(t, err, "PartitionExpiration must be at least UpdateInterval")
}

// TestProcessorHandlerStopsRun stops the Processor from inside the handler
// (cancel Run's context, return nil): the batch was handled, so the last
// checkpoint on shutdown covers it, written with a context of its own.
func TestProcessorHandlerStopsRun(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 1)
	h.send(t, 0, 5)
	ctx := timeout(t, time.Minute)
	c := newConsumer(t, h.ConnectionString(), nil)
	store := checkpoints.NewMemoryStore()
	p, err := eventhub.NewProcessor(c, store, &eventhub.ProcessorOptions{CheckpointEvery: 1000, MaxBatchSize: 5, UpdateInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	rctx, stop := context.WithCancel(ctx)
	var last int64 = -1
	err = p.Run(rctx, eventhub.HandlerFunc(func(_ context.Context, _ *eventhub.PartitionContext, evs []*eventhub.Event) error {
		last = evs[len(evs)-1].SequenceNumber
		if last == 4 {
			stop()
		}
		return nil
	}))
	require.NoError(t, err, "Run returns nil when its context ends")
	ns, eh, err := c.EventHub(ctx)
	require.NoError(t, err)
	cps, err := store.ListCheckpoints(ctx, ns, eh, c.ConsumerGroup())
	require.NoError(t, err)
	require.Len(t, cps, 1)
	assert.Equal(t, int64(4), *cps[0].SequenceNumber, "the batch that stopped the run is checkpointed")
}

// crashingStore is a FileStore that stops writing when its process
// "crashes": no relinquish, no last checkpoint, as after a SIGKILL.
type crashingStore struct {
	*checkpoints.FileStore
	crashed atomic.Bool
}

func (s *crashingStore) ClaimOwnership(ctx context.Context, os []eventhub.Ownership) ([]eventhub.Ownership, error) {
	if s.crashed.Load() {
		return nil, errors.New("the process is gone")
	}
	return s.FileStore.ClaimOwnership(ctx, os)
}

func (s *crashingStore) SetCheckpoint(ctx context.Context, cp eventhub.Checkpoint) error {
	if s.crashed.Load() {
		return errors.New("the process is gone")
	}
	return s.FileStore.SetCheckpoint(ctx, cp)
}

// TestProcessorRestartTakesItsPartitionsBack: a Processor on a FileStore
// crashes without relinquishing; the process that replaces it gets the same
// owner id from the store's directory and reads every partition at once,
// instead of waiting PartitionExpiration (here 60 s) for them to expire.
func TestProcessorRestartTakesItsPartitionsBack(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 4)
	h.sendAll(t, 5)
	ctx := timeout(t, time.Minute)
	dir := t.TempDir()
	opts := func() *eventhub.ProcessorOptions {
		return &eventhub.ProcessorOptions{UpdateInterval: 200 * time.Millisecond, PartitionExpiration: time.Minute, CheckpointEvery: 1}
	}

	fsA, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	storeA := &crashingStore{FileStore: fsA}
	a, err := eventhub.NewProcessor(newConsumer(t, h.ConnectionString(), nil), storeA, opts())
	require.NoError(t, err)
	seenA := newSeen()
	actx, stopA := context.WithCancel(ctx)
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(actx, newRecorder(seenA)) }()
	require.Eventually(t, func() bool { return seenA.partitions() == 4 }, 20*time.Second, 20*time.Millisecond, "A reads all four partitions")
	storeA.crashed.Store(true)
	stopA()
	<-doneA
	require.NoError(t, fsA.Close()) // the crashed process's slot is free again

	fsB, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	defer fsB.Close()
	b, err := eventhub.NewProcessor(newConsumer(t, h.ConnectionString(), nil), fsB, opts())
	require.NoError(t, err)
	assert.Equal(t, a.OwnerID(), b.OwnerID(), "the restarted process has the crashed one's id")
	seenB := newSeen()
	bctx, stopB := context.WithCancel(ctx)
	defer stopB()
	doneB := make(chan error, 1)
	go func() { doneB <- b.Run(bctx, newRecorder(seenB)) }()
	h.sendAll(t, 5)
	start := time.Now()
	require.Eventually(t, func() bool { return seenB.partitions() == 4 }, 20*time.Second, 20*time.Millisecond, "B reads all four partitions")
	assert.Less(t, time.Since(start), 10*time.Second, "well before the old ownerships expire")
	stopB()
	require.NoError(t, <-doneB)
}

// partitions returns how many partitions s has seen events of.
func (s *seen) partitions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}
