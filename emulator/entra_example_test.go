package emulator_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

// Code written for Microsoft Entra ID (auth.NewTokenCredential around an
// azidentity credential) runs against the emulator with a credential whose
// tokens hold IoT Hub roles; each operation is checked against the data
// action Azure requires for it.
func ExampleEmulator_TokenCredential() {
	ctx := context.Background()
	e, err := emulator.Start(ctx, &emulator.Options{TLS: true, Devices: []emulator.DeviceSeed{{DeviceID: "thermostat"}}})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	// In production: cred, err := azidentity.NewDefaultAzureCredential(nil)
	cred := auth.NewTokenCredential(e.TokenCredential(emulator.RoleTwinContributor))
	opts := &iothub.ClientOptions{TLSConfig: e.TLSConfig()}

	twins, err := twin.NewClient(e.HostName(), cred, opts)
	if err != nil {
		panic(err)
	}
	t, err := twins.Update(ctx, "thermostat", &twin.Patch{Desired: map[string]any{"target": 21}})
	if err != nil {
		panic(err)
	}
	fmt.Println("twin updated, version", t.Version)

	// IoT Hub Twin Contributor holds twins/* only: no identities.
	devices, err := registry.NewClient(e.HostName(), cred, opts)
	if err != nil {
		panic(err)
	}
	_, err = devices.CreateDevice(ctx, &registry.Device{DeviceID: "intruder"})
	fmt.Println("create device unauthorized:", errors.Is(err, iothub.ErrUnauthorized))
	// Output:
	// twin updated, version 2
	// create device unauthorized: true
}
