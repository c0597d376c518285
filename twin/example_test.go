package twin_test

import (
	"context"
	"fmt"
	"log"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/twin"
)

func ExampleClient_Update() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "fan-1"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	client, err := twin.NewClientFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}

	tw, err := client.Update(ctx, "fan-1", &twin.Patch{
		Tags:    map[string]any{"building": "43"},
		Desired: map[string]any{"speed": 3},
	})
	if err != nil {
		log.Fatal(err)
	}
	speed, _ := tw.Properties.Desired.Get("speed")
	fmt.Println(tw.Tags["building"], speed)

	// A nil value deletes the key.
	tw, err = client.Update(ctx, "fan-1", &twin.Patch{Tags: map[string]any{"building": nil}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(tw.Tags))
	// Output:
	// 43 3
	// 0
}
