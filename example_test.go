package iothub_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
)

// Every answer of the hub that is not a success is an *iothub.Error: test
// it with errors.Is against the sentinels, or read its fields.
func ExampleError() {
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

	_, err = client.GetDevice(ctx, "no-such-device")
	fmt.Println(errors.Is(err, iothub.ErrDeviceNotFound))
	var he *iothub.Error
	if errors.As(err, &he) {
		fmt.Println(he.StatusCode, he.Code, int(he.Code))
	}
	fmt.Println(iothub.IsRetriable(err))
	// Output:
	// true
	// 404 DeviceNotFound 404001
	// false
}

func ExampleRetryOptions() {
	opts := &iothub.ClientOptions{
		// Up to 5 retries, starting at 200 ms and doubling, never waiting
		// more than 10 s (or more than the hub's Retry-After asks).
		Retry: iothub.RetryOptions{MaxRetries: 5, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 10 * time.Second},
	}
	fmt.Println(opts.Retry.WithDefaults().MaxRetries)
	// Output: 5
}
