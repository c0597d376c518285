package bench

// The M8 three-way comparison of telemetry consumers, BenchmarkTelemetryReaders:
// the same 200,000 1 KB events, over 4 partitions of one emulator's
// built-in endpoint, read in the same run by
//
//   - ours: this SDK's eventhub.Processor, checkpointing every 1,000 events
//     per partition, with its default connections (GOMAXPROCS of them, at
//     most one per partition);
//   - ours-one-connection: the same on a single connection;
//   - azeventhubs: the official Event Hubs SDK's Processor, same checkpoint
//     rule (it puts all receivers on one connection);
//   - bare-go-amqp: one go-amqp receiver per partition on one connection,
//     no processor, no checkpoints: the floor of what a client built on
//     go-amqp costs;
//   - bare-go-amqp-our-connections: the same, spread over as many
//     connections as ours opens.
//
// Each reports events/s and allocs/event. Client and emulator share the
// process, so allocs/event counts the emulator's allocations as well: the
// emulator's share is the same for every client, the differences are the
// clients'. -count repeats each reader back to back on the same hub; for
// rounds in which the readers take turns, so that drift of the machine
// (other load, CPU frequency) spreads over all of them, run the command
// several times, each with a hub of its own:
//
//	cd bench && for i in 1 2 3 4 5; do go test -run '^$' -bench TelemetryReaders -benchtime 1x; done
//
// (-short reads 20,000 events instead).

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

const (
	benchEvents          = 200_000
	benchEventsShort     = 20_000
	benchPartitions      = 4
	benchEventSize       = 1024
	benchDevices         = 64
	benchCheckpointEvery = 1_000
)

// telemetryReader reads every event of the hub once, from the earliest.
type telemetryReader struct {
	name string
	read func(ctx context.Context, h *benchHub) error
}

var telemetryReaders = []telemetryReader{
	{"ours", func(ctx context.Context, h *benchHub) error { return readWithOurProcessor(ctx, h, 0) }},
	{"ours-one-connection", func(ctx context.Context, h *benchHub) error { return readWithOurProcessor(ctx, h, 1) }},
	{"azeventhubs", readWithAzeventhubs},
	{"bare-go-amqp", func(ctx context.Context, h *benchHub) error { return readWithBareReceivers(ctx, h, 1) }},
	{"bare-go-amqp-our-connections", func(ctx context.Context, h *benchHub) error {
		return readWithBareReceivers(ctx, h, min(runtime.GOMAXPROCS(0), 8, benchPartitions))
	}},
}

func BenchmarkTelemetryReaders(b *testing.B) {
	h := newBenchHub(b)
	// One untimed read first, so that the first reader measured does not
	// pay alone for growing the heap to its working size.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	err := readWithBareReceivers(ctx, h, 1)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range telemetryReaders {
		b.Run(r.name, func(b *testing.B) {
			h.measure(b, func(ctx context.Context) error { return r.read(ctx, h) })
		})
	}
}

// benchHub is a hub holding the benchmark's events: where and how the
// readers reach it, so that they can run in the emulator's process or in
// one of their own.
type benchHub struct {
	EventHubConnectionString string
	HostName                 string // host:port of the emulator (plain TCP)
	HubName                  string
	PartitionIDs             []string
	OwnerName, OwnerKey      string // the iothubowner policy, for the bare readers' SASL PLAIN
	Events                   int
}

// targetOf describes the hub e holding events.
func targetOf(e *emulator.Emulator, events int) (*benchHub, error) {
	owner, ok := policyNamed(e, "iothubowner")
	if !ok {
		return nil, fmt.Errorf("no iothubowner policy")
	}
	return &benchHub{
		EventHubConnectionString: e.EventHubConnectionString(), HostName: e.HostName(), HubName: e.HubName(),
		PartitionIDs: e.PartitionIDs(), OwnerName: owner.Name, OwnerKey: owner.PrimaryKey, Events: events,
	}, nil
}

// benchEventCount is how many events a run reads: -short reads fewer.
func benchEventCount() int {
	if testing.Short() {
		return benchEventsShort
	}
	return benchEvents
}

// newBenchHub starts an emulator and fills its 4 partitions with 1 KB
// events sent by 64 simulated devices at once; it reports the ingest rate
// as a log line.
func newBenchHub(b *testing.B) *benchHub {
	b.Helper()
	n := benchEventCount()
	e := startHub(b, benchPartitions, benchDeviceIDs()...)
	devices := connect(b, e, benchDeviceIDs()...)
	began := time.Now()
	if err := fill(devices, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("ingest: %d events of %d B from %d devices in %s (%.0f events/s)", n, benchEventSize, len(devices), time.Since(began).Round(time.Millisecond), float64(n)/time.Since(began).Seconds())
	h, err := targetOf(e, n)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// benchDeviceIDs are the ids of the devices that send the events.
func benchDeviceIDs() []string {
	ids := make([]string, benchDevices)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-device-%02d", i)
	}
	return ids
}

// fill sends n 1 KB events from devices, all at once.
func fill(devices []*emulator.SimulatedDevice, n int) error {
	body := make([]byte, benchEventSize)
	props := map[string]string{"temperatureAlert": "false"}
	var wg sync.WaitGroup
	errs := make(chan error, len(devices))
	for i, d := range devices {
		count := n / len(devices)
		if i < n%len(devices) {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range count {
				if err := d.SendTelemetry(context.Background(), body, &emulator.TelemetryOptions{MessageID: fmt.Sprint(j), Properties: props}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// measure runs read once per iteration, each reading every event, and
// reports events/s and allocs/event.
func (h *benchHub) measure(b *testing.B, read func(ctx context.Context) error) {
	b.Helper()
	b.ReportAllocs()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	began := time.Now()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		err := read(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(began)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(h.Events * b.N)
	b.ReportMetric(total/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/event")
}

// counter counts events across partitions and ends the read once every
// event has arrived.
type counter struct {
	n      atomic.Int64
	want   int64
	cancel context.CancelFunc
}

func (c *counter) add(k int) {
	if c.n.Add(int64(k)) >= c.want {
		c.cancel()
	}
}

// readWithOurProcessor reads every event with this SDK's Processor (greedy
// balancing, one owner), checkpointing each partition every 1,000 events
// into an in-memory store. connections is ConsumerOptions.Connections: 0
// for the default, 1 for the layout azeventhubs uses, which shows what the
// Processor itself costs apart from how its receivers share connections.
func readWithOurProcessor(ctx context.Context, h *benchHub, connections int) error {
	consumer, err := eventhub.NewConsumerFromConnectionString(h.EventHubConnectionString, &eventhub.ConsumerOptions{Connections: connections})
	if err != nil {
		return err
	}
	defer consumer.Close(context.Background())
	p, err := eventhub.NewProcessor(consumer, checkpoints.NewMemoryStore(), &eventhub.ProcessorOptions{
		Strategy:        eventhub.StrategyGreedy,
		UpdateInterval:  time.Second,
		CheckpointEvery: benchCheckpointEvery,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &counter{want: int64(h.Events), cancel: cancel}
	err = p.Run(ctx, eventhub.HandlerFunc(func(_ context.Context, _ *eventhub.PartitionContext, events []*eventhub.Event) error {
		c.add(len(events))
		return nil
	}))
	if got := c.n.Load(); got < c.want {
		return fmt.Errorf("read %d of %d events: %v", got, c.want, err)
	}
	return nil
}

// readWithAzeventhubs reads every event with azeventhubs' Processor
// (greedy balancing, one owner), checkpointing each partition every 1,000
// events into an in-memory store.
func readWithAzeventhubs(ctx context.Context, h *benchHub) error {
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(h.EventHubConnectionString, "", azeventhubs.DefaultConsumerGroup, nil)
	if err != nil {
		return err
	}
	defer cc.Close(context.Background())
	p, err := azeventhubs.NewProcessor(cc, newMemoryCheckpointStore(), &azeventhubs.ProcessorOptions{
		LoadBalancingStrategy: azeventhubs.ProcessorStrategyGreedy,
		UpdateInterval:        time.Second,
		StartPositions:        azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: ptr(true)}},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &counter{want: int64(h.Events), cancel: cancel}
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for {
		pc := p.NextPartitionClient(ctx)
		if pc == nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close(context.Background())
			sinceCheckpoint := 0
			for ctx.Err() == nil {
				evs, err := pc.ReceiveEvents(ctx, 100, nil)
				if len(evs) > 0 {
					c.add(len(evs))
					sinceCheckpoint += len(evs)
					if sinceCheckpoint >= benchCheckpointEvery {
						sinceCheckpoint = 0
						if err := pc.UpdateCheckpoint(ctx, evs[len(evs)-1], nil); err != nil && ctx.Err() == nil {
							firstErr.CompareAndSwap(nil, &err)
							cancel()
						}
					}
				}
				if err != nil && ctx.Err() == nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	<-runDone
	if errp := firstErr.Load(); errp != nil {
		return *errp
	}
	if got := c.n.Load(); got < c.want {
		return fmt.Errorf("read %d of %d events before the deadline", got, c.want)
	}
	return nil
}

// readWithBareReceivers reads every event with one go-amqp receiver per
// partition (credit 300, azeventhubs' default prefetch), from the earliest
// event: no processor, no checkpoints. The receivers are spread over
// connections connections, one session each, as ours spreads them: one
// is what azeventhubs does, the plain baseline; GOMAXPROCS (here at most
// the 4 partitions) is what our Consumer does by default, the baseline
// for how much our Processor adds on the same layout.
func readWithBareReceivers(ctx context.Context, h *benchHub, connections int) error {
	password, err := auth.SignSAS(h.HostName, h.OwnerName, h.OwnerKey, time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	sessions := make([]*amqp.Session, connections)
	for i := range sessions {
		conn, err := amqp.Dial(ctx, "amqp://"+h.HostName, &amqp.ConnOptions{
			SASLType: amqp.SASLTypePlain(h.OwnerName+"@sas.root."+h.HubName, password),
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		if sessions[i], err = conn.NewSession(ctx, nil); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &counter{want: int64(h.Events), cancel: cancel}
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for i, pid := range h.PartitionIDs {
		r, err := sessions[i%connections].NewReceiver(ctx, h.HubName+"/ConsumerGroups/$Default/Partitions/"+pid, &amqp.ReceiverOptions{
			SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(),
			Credit:         300,
			Filters:        []amqp.LinkFilter{amqp.NewSelectorFilter("amqp.annotation.x-opt-offset > '-1'")},
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := r.Receive(ctx, nil); err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, &err)
						cancel()
					}
					return
				}
				c.add(1)
			}
		}()
	}
	wg.Wait()
	if errp := firstErr.Load(); errp != nil {
		return *errp
	}
	if got := c.n.Load(); got < c.want {
		return fmt.Errorf("read %d of %d events before the deadline", got, c.want)
	}
	return nil
}

func policyNamed(e *emulator.Emulator, name string) (emulator.Policy, bool) {
	for _, p := range e.Policies() {
		if p.Name == name {
			return p, true
		}
	}
	return emulator.Policy{}, false
}
