package eventhub_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
)

// Read a device's telemetry from the start of its partition, with the hub's
// own (IoT Hub) connection string: the consumer follows the hub's redirect
// to the built-in Event Hub-compatible endpoint.
func ExampleConsumer_NewPartitionReceiver() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "thermostat-1"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	// The device side, played by the emulator.
	thermostat, _ := hub.Device("thermostat-1")
	if err := thermostat.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer thermostat.Disconnect()
	for _, t := range []string{"20.5", "21.0"} {
		opts := &emulator.TelemetryOptions{ContentType: "application/json", Properties: map[string]string{"unit": "C"}}
		if err := thermostat.SendTelemetry(ctx, []byte(`{"temperature":`+t+`}`), opts); err != nil {
			log.Fatal(err)
		}
	}

	consumer, err := eventhub.NewConsumerFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close(ctx)

	props, err := consumer.Properties(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("partitions:", props.PartitionIDs)

	// Find the partition the device's events went to.
	for _, id := range props.PartitionIDs {
		pp, err := consumer.PartitionProperties(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		if pp.IsEmpty {
			continue
		}
		receiver, err := consumer.NewPartitionReceiver(id, &eventhub.ReceiverOptions{
			StartPosition: eventhub.StartPosition{Earliest: true},
		})
		if err != nil {
			log.Fatal(err)
		}
		defer receiver.Close(ctx)

		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		events, err := receiver.Receive(rctx, 2)
		if err != nil {
			log.Fatal(err)
		}
		for _, ev := range events {
			source := ev.SystemProperties()["iothub-message-source"]
			fmt.Println(ev.SequenceNumber, ev.DeviceID, source, ev.ContentType, ev.Properties["unit"], string(ev.Body))
		}
	}
	// Output:
	// partitions: [0 1 2 3]
	// 0 thermostat-1 Telemetry application/json C {"temperature":20.5}
	// 1 thermostat-1 Telemetry application/json C {"temperature":21.0}
}

// Tell how far behind a reader is: with TrackLastEnqueued, every batch
// brings where the partition ends, with no extra request.
func ExamplePartitionReceiver_LastEnqueued() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, &emulator.Options{Partitions: 1, Devices: []emulator.DeviceSeed{{DeviceID: "meter-1"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	meter, _ := hub.Device("meter-1")
	if err := meter.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer meter.Disconnect()
	for range 5 {
		if err := meter.SendTelemetry(ctx, []byte(`{"kWh":1.5}`), nil); err != nil {
			log.Fatal(err)
		}
	}

	consumer, err := eventhub.NewConsumerFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close(ctx)
	receiver, err := consumer.NewPartitionReceiver("0", &eventhub.ReceiverOptions{
		StartPosition:     eventhub.StartPosition{Earliest: true},
		TrackLastEnqueued: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer receiver.Close(ctx)

	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	events, err := receiver.Receive(rctx, 2)
	if err != nil {
		log.Fatal(err)
	}
	last := events[len(events)-1]
	if le, ok := receiver.LastEnqueued(); ok {
		fmt.Printf("read up to sequence number %d; the partition ends at %d: %d events behind\n", last.SequenceNumber, le.SequenceNumber, le.Lag(last))
	}
	// Output:
	// read up to sequence number 1; the partition ends at 4: 3 events behind
}
