package c2d_test

import (
	"context"
	"fmt"
	"log"

	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
)

func ExampleClient_Send() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "lamp-1"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	// The device side, played by the emulator.
	lamp, _ := hub.Device("lamp-1")
	if err := lamp.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	defer lamp.Disconnect()

	client, err := c2d.NewClientFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(ctx)

	msg := &c2d.Message{Body: []byte("on"), Ack: c2d.AckFull}
	if err := client.Send(ctx, "lamp-1", msg); err != nil {
		log.Fatal(err)
	}
	received, err := lamp.ReceiveC2D(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("device got:", string(received.Body))
	_ = received.Complete(ctx)

	// Follow the feedback until the record of our message arrives.
	fctx, stop := context.WithCancel(ctx)
	_ = client.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		for _, r := range b.Records {
			if r.OriginalMessageID == msg.MessageID {
				fmt.Println("feedback:", r.StatusCode)
				stop()
			}
		}
		return nil
	})
	// Output:
	// device got: on
	// feedback: Success
}
