package eventhub_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// counter is a Handler that also wants to know when it gains and loses
// partitions.
type counter struct {
	mu     sync.Mutex
	events int
	done   func()
}

func (c *counter) ProcessEvents(ctx context.Context, pc *eventhub.PartitionContext, events []*eventhub.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events += len(events)
	if c.events == 30 {
		c.done()
	}
	return nil
}

func (c *counter) OpenPartition(ctx context.Context, pc *eventhub.PartitionContext) error {
	return nil
}

func (c *counter) ClosePartition(ctx context.Context, pc *eventhub.PartitionContext, reason eventhub.CloseReason, err error) {
	if reason != eventhub.CloseReasonShutdown {
		fmt.Println("partition", pc.PartitionID, "closed:", reason)
	}
}

// Read every partition with a Processor that checkpoints every 10 events
// (and on shutdown) in a directory: run several such processes with the
// same directory and they share the partitions; restart one and it
// resumes after its checkpoints.
func ExampleProcessor_Run() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "pump-1"}, {DeviceID: "pump-2"}, {DeviceID: "pump-3"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	for _, id := range []string{"pump-1", "pump-2", "pump-3"} {
		d, _ := hub.Device(id)
		if err := d.Connect(ctx); err != nil {
			log.Fatal(err)
		}
		defer d.Disconnect()
		for i := range 10 {
			if err := d.SendTelemetry(ctx, fmt.Appendf(nil, `{"rpm":%d}`, 1000+i), nil); err != nil {
				log.Fatal(err)
			}
		}
	}

	consumer, err := eventhub.NewConsumerFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close(ctx)
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := checkpoints.NewFileStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	processor, err := eventhub.NewProcessor(consumer, store, &eventhub.ProcessorOptions{
		CheckpointEvery: 10,
		UpdateInterval:  time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}

	runCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	handler := &counter{done: stop}
	if err := processor.Run(runCtx, handler); err != nil {
		log.Fatal(err)
	}
	fmt.Println("events handled:", handler.events)

	// The checkpoints say where a restart resumes.
	ns, eh, _ := consumer.EventHub(ctx)
	cps, err := store.ListCheckpoints(ctx, ns, eh, consumer.ConsumerGroup())
	if err != nil {
		log.Fatal(err)
	}
	next := int64(0)
	for _, cp := range cps {
		next += *cp.SequenceNumber + 1
	}
	fmt.Println("events checkpointed:", next)
	// Output:
	// events handled: 30
	// events checkpointed: 30
}
