// C2d-feedback sends cloud-to-device messages that ask for full feedback
// and follows the feedback until every message has been accounted for.
//
//	go run ./examples/c2d-feedback -device lamp-1 -n 5
//
// With IOTHUB_CONNECTION_STRING unset it uses an in-process emulator whose
// simulated device completes every other message and rejects the rest.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
)

func main() {
	deviceID := flag.String("device", "lamp-1", "device to send to")
	n := flag.Int("n", 5, "messages to send")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := os.Getenv("IOTHUB_CONNECTION_STRING")
	if cs == "" {
		hub, err := startDemoHub(ctx, *deviceID)
		if err != nil {
			log.Fatal(err)
		}
		defer hub.Close()
		cs = hub.ConnectionString()
	}
	if err := sendAndFollow(ctx, os.Stdout, cs, *deviceID, *n); err != nil {
		log.Fatal(err)
	}
}

func sendAndFollow(ctx context.Context, out io.Writer, connectionString, deviceID string, n int) error {
	client, err := c2d.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	defer client.Close(context.Background())
	pending := map[string]bool{}
	for i := range n {
		msg := &c2d.Message{Body: []byte(fmt.Sprintf(`{"blink":%d}`, i)), ContentType: "application/json", Ack: c2d.AckFull}
		if err := client.Send(ctx, deviceID, msg); err != nil {
			return err
		}
		pending[msg.MessageID] = true
		fmt.Fprintf(out, "sent %s\n", msg.MessageID)
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	err = client.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		for _, r := range b.Records {
			if pending[r.OriginalMessageID] {
				delete(pending, r.OriginalMessageID)
				fmt.Fprintf(out, "feedback %s: %s (%s)\n", r.OriginalMessageID, r.StatusCode, r.Description)
			}
		}
		if len(pending) == 0 {
			stop()
		}
		return nil
	})
	if len(pending) == 0 {
		return nil
	}
	return err
}

// startDemoHub starts an emulator whose device completes even messages and
// rejects odd ones.
func startDemoHub(ctx context.Context, deviceID string) (*emulator.Emulator, error) {
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: deviceID}}})
	if err != nil {
		return nil, err
	}
	dev, err := hub.Device(deviceID)
	if err == nil {
		err = dev.Connect(ctx)
	}
	if err != nil {
		hub.Close()
		return nil, err
	}
	go func() {
		for i := 0; ; i++ {
			m, err := dev.ReceiveC2D(ctx)
			if err != nil {
				return
			}
			if i%2 == 0 {
				_ = m.Complete(ctx)
			} else {
				_ = m.Reject(ctx)
			}
		}
	}()
	return hub, nil
}
