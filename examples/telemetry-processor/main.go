// Telemetry-processor reads device telemetry with a checkpointed Processor:
// stop it (Ctrl-C) and start it again, and it resumes after the last event
// it handled. Run several at once on the same checkpoint directory (or
// with a blob store, on several machines) and they share the partitions.
//
//	go run ./examples/telemetry-processor -checkpoint-dir ./checkpoints
//
// With IOTHUB_CONNECTION_STRING unset it starts an emulator whose
// simulated devices send a reading every 200 ms.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

func main() {
	dir := flag.String("checkpoint-dir", "checkpoints", "where checkpoints and ownership are kept")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cs := os.Getenv("IOTHUB_CONNECTION_STRING")
	if cs == "" {
		hub, err := startDemoHub(ctx)
		if err != nil {
			log.Fatal(err)
		}
		defer hub.Close()
		cs = hub.ConnectionString()
	}
	if err := process(ctx, os.Stdout, cs, *dir, 0); err != nil {
		log.Fatal(err)
	}
}

// process runs a Processor until ctx ends (or, when limit > 0, until it
// has handled limit events), printing the average temperature per device.
func process(ctx context.Context, out io.Writer, connectionString, dir string, limit int) error {
	consumer, err := eventhub.NewConsumerFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	defer consumer.Close(context.Background())
	store, err := checkpoints.NewFileStore(dir)
	if err != nil {
		return err
	}
	proc, err := eventhub.NewProcessor(consumer, store, &eventhub.ProcessorOptions{
		// Checkpoint after every 50 events and every 5 s: a restart repeats
		// at most that much.
		CheckpointEvery:    50,
		CheckpointInterval: 5 * time.Second,
		// Learn where each partition ends with every batch, to tell how
		// far behind the processor is.
		TrackLastEnqueued: true,
	})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	sums, counts := map[string]float64{}, map[string]int{}
	handled := 0
	err = proc.Run(ctx, eventhub.HandlerFunc(func(_ context.Context, pc *eventhub.PartitionContext, events []*eventhub.Event) error {
		mu.Lock()
		defer mu.Unlock()
		last, lagKnown := pc.LastEnqueued()
		for _, ev := range events {
			var reading struct {
				Temperature float64 `json:"temperature"`
			}
			if json.Unmarshal(ev.Body, &reading) != nil {
				continue // not a reading; skip it rather than stop the pipeline
			}
			sums[ev.DeviceID] += reading.Temperature
			counts[ev.DeviceID]++
			behind := ""
			if lagKnown {
				behind = fmt.Sprintf(", %d events behind", last.Lag(ev))
			}
			fmt.Fprintf(out, "partition %s seq %d: %s %.1f °C (average %.1f over %d%s)\n", pc.PartitionID, ev.SequenceNumber,
				ev.DeviceID, reading.Temperature, sums[ev.DeviceID]/float64(counts[ev.DeviceID]), counts[ev.DeviceID], behind)
		}
		handled += len(events)
		if limit > 0 && handled >= limit {
			stop()
		}
		return nil
	}))
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// startDemoHub starts an emulator with three thermometers sending a
// reading every 200 ms until ctx ends.
func startDemoHub(ctx context.Context) (*emulator.Emulator, error) {
	ids := []string{"thermo-1", "thermo-2", "thermo-3"}
	var seeds []emulator.DeviceSeed
	for _, id := range ids {
		seeds = append(seeds, emulator.DeviceSeed{DeviceID: id})
	}
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: seeds})
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		dev, err := hub.Device(id)
		if err == nil {
			err = dev.Connect(ctx)
		}
		if err != nil {
			hub.Close()
			return nil, err
		}
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				body := fmt.Sprintf(`{"temperature":%.1f}`, 20+float64(i)+float64(n%10)/10)
				_ = dev.SendTelemetry(ctx, []byte(body), &emulator.TelemetryOptions{ContentType: "application/json"})
			}
		}()
	}
	return hub, nil
}
