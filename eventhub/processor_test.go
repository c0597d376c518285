package eventhub_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// seen records every event handled, by partition and sequence number.
type seen struct {
	mu     sync.Mutex
	counts map[string]map[int64]int
	byRun  map[string]map[int64]int // the run that last handled each event
	run    int
	prev   int // events of the previous run handled again
	total  int
	dups   int
	notify chan struct{}
}

func newSeen() *seen {
	return &seen{counts: map[string]map[int64]int{}, byRun: map[string]map[int64]int{}, notify: make(chan struct{}, 1)}
}

func (s *seen) add(evs []*eventhub.Event) (dups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		m := s.counts[ev.PartitionID]
		if m == nil {
			m = map[int64]int{}
			s.counts[ev.PartitionID] = m
		}
		m[ev.SequenceNumber]++
		if m[ev.SequenceNumber] > 1 {
			dups++
		}
		r := s.byRun[ev.PartitionID]
		if r == nil {
			r = map[int64]int{}
			s.byRun[ev.PartitionID] = r
		}
		if last, ok := r[ev.SequenceNumber]; ok && last == s.run-1 {
			s.prev++
		}
		r[ev.SequenceNumber] = s.run
		s.total++
	}
	s.dups += dups
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return dups
}

// missing returns how many of the first sent[p] events of each partition
// were never handled.
func (s *seen) missing(sent []int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, want := range sent {
		m := s.counts[fmt.Sprint(p)]
		for seq := range want {
			if m[int64(seq)] == 0 {
				n++
			}
		}
	}
	return n
}

// waitAll waits until every sent event has been handled.
func (s *seen) waitAll(t testing.TB, ctx context.Context, h *testHub) {
	t.Helper()
	h.mu.Lock()
	sent := append([]int(nil), h.sent...)
	h.mu.Unlock()
	for s.missing(sent) > 0 {
		select {
		case <-s.notify:
		case <-ctx.Done():
			t.Fatalf("%d events never handled", s.missing(sent))
		}
	}
}

func (s *seen) handler() eventhub.HandlerFunc {
	return func(_ context.Context, _ *eventhub.PartitionContext, evs []*eventhub.Event) error {
		s.add(evs)
		return nil
	}
}

// ownersOf returns the live owner of each partition.
func ownersOf(t testing.TB, ctx context.Context, store eventhub.CheckpointStore, c *eventhub.Consumer) map[string]string {
	ns, eh, err := c.EventHub(ctx)
	require.NoError(t, err)
	list, err := store.ListOwnership(ctx, ns, eh, c.ConsumerGroup())
	require.NoError(t, err)
	m := map[string]string{}
	for _, o := range list {
		if o.OwnerID != "" {
			m[o.PartitionID] = o.OwnerID
		}
	}
	return m
}

// balanced tells whether all n partitions are owned by exactly the given
// owners, with shares that differ by at most one.
func balanced(owners map[string]string, n int, ids []string) bool {
	if len(owners) != n {
		return false
	}
	count := map[string]int{}
	for _, o := range owners {
		count[o]++
	}
	lo, hi := n, 0
	for _, id := range ids {
		c := count[id]
		lo, hi = min(lo, c), max(hi, c)
	}
	sum := 0
	for _, id := range ids {
		sum += count[id]
	}
	return sum == n && hi-lo <= 1
}

type runningProcessor struct {
	p      *eventhub.Processor
	cancel context.CancelFunc
	done   chan error
}

func startProcessor(t testing.TB, h *testHub, store eventhub.CheckpointStore, opts *eventhub.ProcessorOptions, handler eventhub.Handler) *runningProcessor {
	t.Helper()
	c := newConsumer(t, h.ConnectionString(), nil)
	p, err := eventhub.NewProcessor(c, store, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rp := &runningProcessor{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { rp.done <- p.Run(ctx, handler) }()
	t.Cleanup(func() { rp.stop(t) })
	return rp
}

func (rp *runningProcessor) stop(t testing.TB) {
	rp.cancel()
	select {
	case err, ok := <-rp.done:
		if ok {
			require.NoError(t, err)
			close(rp.done)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// testBalance runs three Processors over eight partitions with store.
func testBalance(t *testing.T, store eventhub.CheckpointStore, interval time.Duration, strategy ...eventhub.Strategy) {
	h := newTestHub(t, 8)
	ctx := timeout(t, 90*time.Second)
	expiration := 5 * interval
	opts := &eventhub.ProcessorOptions{UpdateInterval: interval, PartitionExpiration: expiration, CheckpointEvery: 10}
	if len(strategy) > 0 {
		opts.Strategy = strategy[0]
	}
	s := newSeen()
	h.sendAll(t, 20)
	probe := newConsumer(t, h.ConnectionString(), nil)

	start := time.Now()
	var ps []*runningProcessor
	var ids []string
	for range 3 {
		rp := startProcessor(t, h, store, opts, s.handler())
		ps = append(ps, rp)
		ids = append(ids, rp.p.OwnerID())
	}
	// Balancing starts when the first Processor has connected and claimed:
	// the time to dial, authenticate and follow the redirect is not the
	// balancer's.
	var first time.Time
	require.Eventually(t, func() bool {
		owners := ownersOf(t, ctx, store, probe)
		if first.IsZero() && len(owners) > 0 {
			first = time.Now()
		}
		return balanced(owners, 8, ids)
	}, 20*time.Second, 5*time.Millisecond)
	took := time.Since(first)
	t.Logf("3 Processors balanced 8 partitions %v after the first claim (%.1f update intervals; %v after Run): %v",
		took.Round(time.Millisecond), float64(took)/float64(interval), time.Since(start).Round(time.Millisecond), ownersOf(t, ctx, store, probe))
	assert.Less(t, took, 3*interval, "balanced within 3 update intervals")
	h.sendAll(t, 20)
	s.waitAll(t, ctx, h)

	// One stops: it hands its partitions over at once.
	start = time.Now()
	ps[0].stop(t)
	h.sendAll(t, 20)
	require.Eventually(t, func() bool { return balanced(ownersOf(t, ctx, store, probe), 8, ids[1:]) }, 10*time.Second, 10*time.Millisecond)
	took = time.Since(start)
	t.Logf("after one stopped, the other two owned all 8 partitions in %v", took.Round(time.Millisecond))
	assert.Less(t, took, expiration+interval, "taken over within expiration + interval")
	h.sendAll(t, 20)
	s.waitAll(t, ctx, h)
	s.mu.Lock()
	t.Logf("events handled: %d, duplicates: %d", s.total, s.dups)
	s.mu.Unlock()
}

func TestProcessorBalanceMemoryStore(t *testing.T) {
	// Not parallel: the timings measured are the balancer's, not the CPU's.
	testBalance(t, checkpoints.NewMemoryStore(), 200*time.Millisecond)
}

func TestProcessorBalanceGreedy(t *testing.T) {
	// Not parallel: the timings measured are the balancer's, not the CPU's.
	testBalance(t, checkpoints.NewMemoryStore(), 200*time.Millisecond, eventhub.StrategyGreedy)
}

func TestProcessorBalanceFileStore(t *testing.T) {
	// Not parallel: the timings measured are the balancer's, not the CPU's.
	store, err := checkpoints.NewFileStore(t.TempDir())
	require.NoError(t, err)
	testBalance(t, store, 200*time.Millisecond)
}

// TestProcessorRestarts cancels and restarts a Processor with the file
// store at random points while it reads N events over 4 partitions: every
// event is handled at least once, and a restarted Processor starts exactly
// after the last checkpoint, so the only duplicates are events handled
// after it.
func TestProcessorRestarts(t *testing.T) {
	t.Parallel()
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	h := newTestHub(t, 4)
	ctx := timeout(t, 5*time.Minute)
	store, err := checkpoints.NewFileStore(t.TempDir())
	require.NoError(t, err)
	s := newSeen()

	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		for i := range n / 4 / 100 {
			for p := range 4 {
				h.send(t, p, 100)
			}
			_ = i
		}
	}()

	const every = 1000
	totalDups := 0
	for run := range 6 {
		c := newConsumer(t, h.ConnectionString(), nil)
		ns, eh, err := c.EventHub(ctx)
		require.NoError(t, err)
		cps, err := store.ListCheckpoints(ctx, ns, eh, c.ConsumerGroup())
		require.NoError(t, err)
		after := map[string]int64{"0": -1, "1": -1, "2": -1, "3": -1}
		for _, cp := range cps {
			after[cp.PartitionID] = *cp.SequenceNumber
		}
		var mu sync.Mutex
		first := map[string]int64{}
		runDups := 0
		// Even runs checkpoint automatically (every 1000 events and on
		// close); odd runs checkpoint by hand every 1000 events only.
		auto := run%2 == 0
		opts := &eventhub.ProcessorOptions{UpdateInterval: 200 * time.Millisecond, PartitionExpiration: time.Second}
		if auto {
			opts.CheckpointEvery = every
		}
		p, err := eventhub.NewProcessor(c, store, opts)
		require.NoError(t, err)
		rctx, cancel := context.WithCancel(ctx)
		handled := 0
		stopAt := 1 + rand.IntN(n/5)
		if run == 5 {
			stopAt = -1 // the last run reads to the end
		}
		s.mu.Lock()
		s.run, s.prev = run, 0
		s.mu.Unlock()
		var perPartition sync.Map
		err = p.Run(rctx, eventhub.HandlerFunc(func(ctx context.Context, pc *eventhub.PartitionContext, evs []*eventhub.Event) error {
			mu.Lock()
			if _, ok := first[pc.PartitionID]; !ok {
				first[pc.PartitionID] = evs[0].SequenceNumber
			}
			mu.Unlock()
			d := s.add(evs)
			v, _ := perPartition.LoadOrStore(pc.PartitionID, new(int))
			cnt := v.(*int)
			*cnt += len(evs)
			if !auto && *cnt >= every {
				*cnt = 0
				if err := pc.Checkpoint(ctx, evs[len(evs)-1]); err != nil && !errors.Is(err, context.Canceled) {
					return err
				}
			}
			mu.Lock()
			runDups += d
			handled += len(evs)
			if stopAt > 0 && handled >= stopAt {
				cancel()
			}
			if stopAt < 0 && s.missing([]int{n / 4, n / 4, n / 4, n / 4}) == 0 {
				cancel()
			}
			mu.Unlock()
			return nil
		}))
		cancel()
		require.NoError(t, err)
		for id, seq := range first {
			assert.Equal(t, after[id]+1, seq, "run %d, partition %s starts right after its checkpoint", run, id)
		}
		totalDups += runDups
		s.mu.Lock()
		prevRepeats := s.prev
		s.mu.Unlock()
		if run > 0 && (run-1)%2 == 0 {
			assert.Zero(t, prevRepeats, "nothing the previous run handled is read again, since it checkpointed on close")
		}
		t.Logf("run %d (auto checkpoint %v): handled %d events, %d of them again (all after the last checkpoint), %d handled by the previous run", run, auto, handled, runDups, prevRepeats)
	}
	<-sendDone
	require.Zero(t, s.missing([]int{n / 4, n / 4, n / 4, n / 4}), "every event handled at least once")
	t.Logf("%d events, 5 restarts: %d handled, %d duplicates", n, s.total, totalDups)
	keys := make([]string, 0)
	for k := range s.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	require.Equal(t, []string{"0", "1", "2", "3"}, keys)
}
