package eventhub_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
)

// testHub is an emulator with one connected device per partition.
type testHub struct {
	*emulator.Emulator
	parts   int
	devices []*emulator.SimulatedDevice // devices[p] sends to partition p
	mu      sync.Mutex
	sent    []int // events sent per partition
}

// deviceIDFor returns a device id whose events land in partition p of n
// (the emulator hashes the id with FNV-1a).
func deviceIDFor(p, n int) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("dev-%d-%d", p, i)
		f := fnv.New32a()
		_, _ = f.Write([]byte(id))
		if int(f.Sum32()%uint32(n)) == p {
			return id
		}
	}
}

func newTestHub(t testing.TB, partitions int) *testHub {
	t.Helper()
	if partitions == 0 {
		partitions = 4
	}
	opts := &emulator.Options{Partitions: partitions, ConsumerGroups: []string{"cg1"}}
	for p := range partitions {
		opts.Devices = append(opts.Devices, emulator.DeviceSeed{DeviceID: deviceIDFor(p, partitions), Modules: []string{"mod"}})
	}
	e, err := emulator.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	h := &testHub{Emulator: e, parts: partitions, sent: make([]int, partitions)}
	for p := range partitions {
		d, err := e.Device(deviceIDFor(p, partitions))
		require.NoError(t, err)
		require.NoError(t, d.Connect(context.Background()))
		t.Cleanup(d.Disconnect)
		h.devices = append(h.devices, d)
	}
	return h
}

// send sends n events to partition p, with bodies "p-<seq>".
func (h *testHub) send(t testing.TB, p, n int) {
	t.Helper()
	for range n {
		h.mu.Lock()
		i := h.sent[p]
		h.sent[p]++
		h.mu.Unlock()
		require.NoError(t, h.devices[p].SendTelemetry(context.Background(), []byte(strconv.Itoa(p)+"-"+strconv.Itoa(i)), nil))
	}
}

// sendAll sends n events to every partition.
func (h *testHub) sendAll(t testing.TB, n int) {
	for p := range h.parts {
		h.send(t, p, n)
	}
}

var fastRetry = iothub.RetryOptions{RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 300 * time.Millisecond, MaxRetries: 10}

func newConsumer(t testing.TB, cs string, opts *eventhub.ConsumerOptions) *eventhub.Consumer {
	t.Helper()
	if opts == nil {
		opts = &eventhub.ConsumerOptions{}
	}
	if opts.Retry == (iothub.RetryOptions{}) {
		opts.Retry = fastRetry
	}
	if os.Getenv("IOTHUB_TEST_LOG") != "" && opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := eventhub.NewConsumerFromConnectionString(cs, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// receiveN reads exactly n events.
func receiveN(t testing.TB, ctx context.Context, r *eventhub.PartitionReceiver, n int) []*eventhub.Event {
	t.Helper()
	var all []*eventhub.Event
	for len(all) < n {
		evs, err := r.Receive(ctx, n-len(all))
		require.NoError(t, err, "after %d of %d events", len(all), n)
		all = append(all, evs...)
	}
	return all
}

func ptr[T any](v T) *T { return &v }
