package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/twin"
)

func ExampleSimulatedDevice() {
	ctx := context.Background()
	e, err := emulator.Start(ctx, &emulator.Options{
		Devices: []emulator.DeviceSeed{{DeviceID: "thermostat"}},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// The device: answers "getTemperature", applies and acknowledges the
	// target temperature the service sets.
	device, err := e.Device("thermostat")
	if err != nil {
		panic(err)
	}
	device.HandleMethod("getTemperature", func(context.Context, json.RawMessage) (int, any) {
		return 200, map[string]float64{"celsius": 20.5}
	})
	applied := make(chan int64, 1)
	device.OnDesiredProperties(func(patch map[string]any, version int64) {
		if _, err := device.ReportProperties(ctx, map[string]any{"target": patch["target"]}); err != nil {
			panic(err)
		}
		applied <- version
	})
	if err := device.Connect(ctx); err != nil {
		panic(err)
	}
	defer device.Disconnect()
	_, connected := getDevice(e, "thermostat")
	fmt.Println("connectionState:", connected["connectionState"])

	// The service: calls a method, then sets a desired property.
	mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	if err != nil {
		panic(err)
	}
	resp, err := mc.Invoke(ctx, "thermostat", &methods.Request{MethodName: "getTemperature"})
	if err != nil {
		panic(err)
	}
	fmt.Println("method:", resp.Status, string(resp.Payload))

	tc, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
	if err != nil {
		panic(err)
	}
	if _, err := tc.Update(ctx, "thermostat", &twin.Patch{Desired: map[string]any{"target": 22}}); err != nil {
		panic(err)
	}
	version := <-applied
	tw, err := tc.Get(ctx, "thermostat")
	if err != nil {
		panic(err)
	}
	target, _ := tw.Properties.Reported.Get("target")
	fmt.Println("desired $version:", version, "reported target:", target)
	// Output:
	// connectionState: Connected
	// method: 200 {"celsius":20.5}
	// desired $version: 2 reported target: 22
}
