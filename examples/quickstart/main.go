// Quickstart is the README's first command: a tour of the SDK in one
// program — registry, direct method, twins, query, cloud-to-device message
// with feedback, telemetry through a checkpointed Processor, statistics. With IOTHUB_CONNECTION_STRING unset it starts the IoT Hub
// emulator in this process and plays the device side too; with it set, it
// runs the service side against that hub.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Getenv("IOTHUB_CONNECTION_STRING")); err != nil {
		log.Fatal(err)
	}
}

// run tours the SDK against the hub of connectionString, or against an
// emulator it starts when connectionString is empty.
func run(ctx context.Context, out io.Writer, connectionString string) error {
	var hub *emulator.Emulator
	if connectionString == "" {
		var err error
		hub, err = emulator.Start(ctx, nil)
		if err != nil {
			return err
		}
		defer hub.Close()
		connectionString = hub.ConnectionString()
		fmt.Fprintf(out, "started the IoT Hub emulator on %s\n", hub.HostName())
	}
	const deviceID = "quickstart-thermostat"

	// 1. The device registry: create (or reuse) a device identity.
	reg, err := registry.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	device, err := reg.CreateDevice(ctx, &registry.Device{DeviceID: deviceID})
	if errors.Is(err, iothub.ErrDeviceAlreadyExists) {
		device, err = reg.GetDevice(ctx, deviceID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "device %s: %s, authentication %s\n", device.DeviceID, device.Status, device.Authentication.Type)

	// 2. On the emulator, a simulated device connects and answers a method,
	// follows its desired properties and receives cloud-to-device messages.
	var dev *emulator.SimulatedDevice
	desired := make(chan int64, 1)
	if hub != nil {
		dev, err = hub.Device(deviceID)
		if err != nil {
			return err
		}
		if err := dev.Connect(ctx); err != nil {
			return err
		}
		defer dev.Disconnect()
		dev.HandleMethod("setTargetTemperature", func(_ context.Context, payload json.RawMessage) (int, any) {
			var req struct{ Celsius float64 }
			if err := json.Unmarshal(payload, &req); err != nil {
				return 400, map[string]string{"error": "send {\"celsius\": n}"}
			}
			return 200, map[string]any{"accepted": req.Celsius}
		})
		dev.OnDesiredProperties(func(patch map[string]any, version int64) {
			if v, ok := patch["reportingIntervalSeconds"]; ok {
				// Acknowledge the setting in the reported properties, as
				// IoT Plug and Play devices do.
				_, _ = dev.ReportProperties(ctx, map[string]any{"reportingIntervalSeconds": v})
			}
			select {
			case desired <- version:
			default:
			}
		})
	}

	// 3. A direct method: request, response, within a time-out.
	mc, err := methods.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	resp, err := mc.Invoke(ctx, deviceID, &methods.Request{
		MethodName:      "setTargetTemperature",
		Payload:         map[string]float64{"celsius": 21.5},
		ResponseTimeout: 10 * time.Second,
	})
	switch {
	case errors.Is(err, iothub.ErrDeviceNotOnline):
		fmt.Fprintln(out, "direct method: the device is not online (connect a device to try it)")
	case err != nil:
		return err
	default:
		fmt.Fprintf(out, "direct method: status %d, payload %s\n", resp.Status, resp.Payload)
	}

	// 4. Twins: a desired property goes to the device, which reports it back.
	tc, err := twin.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	tw, err := tc.Update(ctx, deviceID, &twin.Patch{
		Tags:    map[string]any{"building": "43", "floor": 2},
		Desired: map[string]any{"reportingIntervalSeconds": 30},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "twin: tags %v, desired version %d\n", tw.Tags, tw.Properties.Desired.Version())
	if dev != nil {
		select {
		case <-desired:
		case <-ctx.Done():
			return ctx.Err()
		}
		tw, err = tc.Get(ctx, deviceID)
		if err != nil {
			return err
		}
		v, _ := tw.Properties.Reported.Get("reportingIntervalSeconds")
		fmt.Fprintf(out, "twin: the device reported reportingIntervalSeconds=%v\n", v)
	}

	// 5. A query over the fleet, page by page.
	for row, err := range twin.QueryAs[struct {
		DeviceID string `json:"deviceId"`
		Floor    int    `json:"floor"`
	}](ctx, tc, "SELECT deviceId, tags.floor AS floor FROM devices WHERE tags.building = '43'", nil) {
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "query: %s is on floor %d\n", row.DeviceID, row.Floor)
	}

	// 6. A cloud-to-device message, and its delivery feedback.
	cc, err := c2d.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	defer cc.Close(context.Background())
	msg := &c2d.Message{Body: []byte(`{"display":"Hello from the cloud"}`), ContentType: "application/json", Ack: c2d.AckFull}
	if err := cc.Send(ctx, deviceID, msg); err != nil {
		return err
	}
	fmt.Fprintf(out, "c2d: sent message %s\n", msg.MessageID)
	if dev != nil {
		m, err := dev.ReceiveC2D(ctx)
		if err != nil {
			return err
		}
		if err := m.Complete(ctx); err != nil {
			return err
		}
		fctx, stop := context.WithTimeout(ctx, 30*time.Second)
		err = cc.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
			for _, r := range b.Records {
				if r.OriginalMessageID == msg.MessageID {
					fmt.Fprintf(out, "c2d: feedback for %s: %s\n", r.OriginalMessageID, r.StatusCode)
					stop()
				}
			}
			return nil
		})
		stop()
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}

	// 7. Telemetry: the device sends readings; a Processor reads them from
	// the built-in endpoint and checkpoints its progress in a directory.
	if dev != nil {
		if err := telemetry(ctx, out, connectionString, dev); err != nil {
			return err
		}
	}

	// 8. Statistics.
	stats, err := reg.Statistics(ctx)
	if err != nil {
		return err
	}
	svc, err := reg.ServiceStatistics(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "statistics: %d devices (%d enabled), %d connected\n", stats.TotalDeviceCount, stats.EnabledDeviceCount, svc.ConnectedDeviceCount)
	return nil
}

// telemetry sends three readings from dev and reads them back with a
// Processor that keeps file checkpoints.
func telemetry(ctx context.Context, out io.Writer, connectionString string, dev *emulator.SimulatedDevice) error {
	for i := range 3 {
		body := fmt.Sprintf(`{"temperature":%.1f}`, 21.0+float64(i)/2)
		if err := dev.SendTelemetry(ctx, []byte(body), &emulator.TelemetryOptions{ContentType: "application/json"}); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "quickstart-checkpoints-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := checkpoints.NewFileStore(dir)
	if err != nil {
		return err
	}
	consumer, err := eventhub.NewConsumerFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	defer consumer.Close(context.Background())
	proc, err := eventhub.NewProcessor(consumer, store, &eventhub.ProcessorOptions{CheckpointEvery: 1})
	if err != nil {
		return err
	}
	pctx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	var mu sync.Mutex
	got := 0
	err = proc.Run(pctx, eventhub.HandlerFunc(func(_ context.Context, pc *eventhub.PartitionContext, events []*eventhub.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if ev.DeviceID != dev.DeviceID() {
				continue
			}
			fmt.Fprintf(out, "telemetry: partition %s, sequence %d: %s\n", pc.PartitionID, ev.SequenceNumber, ev.Body)
			got++
		}
		if got >= 3 {
			stop()
		}
		return nil
	}))
	if got < 3 {
		return fmt.Errorf("telemetry: read %d of 3 readings: %w", got, err)
	}
	return nil
}
