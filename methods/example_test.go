package methods_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/methods"
)

func ExampleClient_Invoke() {
	ctx := context.Background()
	e, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "fan-1"}, {DeviceID: "fan-2"}}})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// A simulated device that turns its fan on when asked.
	fan, err := e.Device("fan-1")
	if err != nil {
		panic(err)
	}
	fan.HandleMethod("setSpeed", func(_ context.Context, payload json.RawMessage) (int, any) {
		var req struct{ Speed int }
		if err := json.Unmarshal(payload, &req); err != nil || req.Speed < 0 || req.Speed > 3 {
			return 400, map[string]string{"error": "speed must be 0 to 3"}
		}
		return 200, map[string]int{"speed": req.Speed}
	})
	if err := fan.Connect(ctx); err != nil {
		panic(err)
	}
	defer fan.Disconnect()

	client, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	if err != nil {
		panic(err)
	}
	resp, err := client.Invoke(ctx, "fan-1", &methods.Request{
		MethodName:      "setSpeed",
		Payload:         map[string]int{"speed": 2},
		ResponseTimeout: 10 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	var answer struct{ Speed int }
	if err := resp.Decode(&answer); err != nil {
		panic(err)
	}
	fmt.Println("status:", resp.Status, "speed:", answer.Speed)

	// A device's own error status is an answer, not an error.
	resp, err = client.Invoke(ctx, "fan-1", &methods.Request{MethodName: "setSpeed", Payload: map[string]int{"speed": 9}})
	if err != nil {
		panic(err)
	}
	fmt.Println("status:", resp.Status, "payload:", string(resp.Payload))

	// fan-2 is offline: the hub answers 404103 at once (no connect time-out).
	_, err = client.Invoke(ctx, "fan-2", &methods.Request{MethodName: "setSpeed"})
	fmt.Println("offline:", errors.Is(err, iothub.ErrDeviceNotOnline))
	// Output:
	// status: 200 speed: 2
	// status: 400 payload: {"error":"speed must be 0 to 3"}
	// offline: true
}
