package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
)

func ExampleClient_CreateDevice() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, nil) // or use your hub's connection string
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()

	client, err := registry.NewClientFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}
	device, err := client.CreateDevice(ctx, &registry.Device{DeviceID: "thermostat-1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(device.DeviceID, device.Status, device.Authentication.Type)

	_, err = client.CreateDevice(ctx, &registry.Device{DeviceID: "thermostat-1"})
	fmt.Println(errors.Is(err, iothub.ErrDeviceAlreadyExists))
	// Output:
	// thermostat-1 enabled sas
	// true
}

func ExampleClient_UpdateDevice() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "pump-7"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	client, err := registry.NewClientFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}

	device, err := client.GetDevice(ctx, "pump-7")
	if err != nil {
		log.Fatal(err)
	}
	device.Status, device.StatusReason = registry.StatusDisabled, "leaking"
	if _, err := client.UpdateDevice(ctx, device); err != nil { // If-Match: the ETag read
		log.Fatal(err)
	}
	// device still carries the ETag read before the update: a second write
	// with it is refused instead of overwriting newer changes.
	_, err = client.UpdateDevice(ctx, device)
	fmt.Println(errors.Is(err, iothub.ErrPreconditionFailed))
	// Output: true
}

func ExampleClient_CreateDevices() {
	ctx := context.Background()
	hub, err := emulator.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer hub.Close()
	client, err := registry.NewClientFromConnectionString(hub.ConnectionString(), nil)
	if err != nil {
		log.Fatal(err)
	}

	devices := make([]*registry.Device, 250)
	for i := range devices {
		devices[i] = &registry.Device{DeviceID: fmt.Sprintf("sensor-%03d", i)}
	}
	result, err := client.CreateDevices(ctx, devices, &registry.BulkOptions{
		Progress: func(done, total int) {}, // e.g. drive a progress bar
	})
	if err != nil {
		log.Fatal(err)
	}
	stats, err := client.Statistics(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(result.Succeeded, len(result.Failed), stats.TotalDeviceCount)
	// Output: 250 0 250
}
