package eventhub_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// TestProcessorConnectionDrops drops every AMQP connection every 2 s for
// 30 s while devices keep sending: the Processor hands every event over
// once, in order (no gap, no repeat), and keeps making progress between
// drops (no stall).
func TestProcessorConnectionDrops(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s of faults; skipped with -short")
	}
	t.Parallel()
	h := newTestHub(t, 4)

	var mu sync.Mutex
	next := map[string]int64{}
	handled := 0
	var failures []string
	rp := startProcessor(t, h, checkpoints.NewMemoryStore(), &eventhub.ProcessorOptions{
		UpdateInterval: 500 * time.Millisecond, PartitionExpiration: 5 * time.Second, CheckpointEvery: 100,
	}, eventhub.HandlerFunc(func(_ context.Context, pc *eventhub.PartitionContext, evs []*eventhub.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			if ev.SequenceNumber != next[pc.PartitionID] && len(failures) < 10 {
				failures = append(failures, pc.PartitionID+": want "+itoa(next[pc.PartitionID])+", got "+itoa(ev.SequenceNumber))
			}
			next[pc.PartitionID] = ev.SequenceNumber + 1
		}
		handled += len(evs)
		return nil
	}))

	stopSending := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSending:
				return
			case <-tick.C:
				h.sendAll(t, 5)
			}
		}
	}()

	drops := 0
	last := 0
	stalls := 0
	dropTick := time.NewTicker(2 * time.Second)
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		<-dropTick.C
		mu.Lock()
		progressed := handled > last
		last = handled
		mu.Unlock()
		if !progressed {
			stalls++
		}
		drops += h.DropAMQPConnections()
	}
	dropTick.Stop()
	close(stopSending)
	<-sent

	// Everything sent arrives soon after the last drop.
	s := time.Now()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		h.mu.Lock()
		defer h.mu.Unlock()
		for p, n := range h.sent {
			if next[itoa(int64(p))] != int64(n) {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond)
	mu.Lock()
	t.Logf("%d connections dropped over 30 s; %d events handled, caught up %v after the last drop; %d stalled 2 s windows",
		drops, handled, time.Since(s).Round(time.Millisecond), stalls)
	assert.Empty(t, failures, "gaps or repeats")
	assert.Zero(t, stalls, "progress in every 2 s window")
	mu.Unlock()
	rp.stop(t)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
