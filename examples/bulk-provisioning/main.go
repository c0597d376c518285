// Bulk-provisioning registers a fleet of devices through the bulk registry
// API — 100 per call, several calls in flight — reporting progress, and
// lists the devices that failed.
//
//	go run ./examples/bulk-provisioning -n 10000
//
// With IOTHUB_CONNECTION_STRING unset it provisions an in-process emulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
)

func main() {
	n := flag.Int("n", 10000, "devices to register")
	prefix := flag.String("prefix", "sensor", "device id prefix")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cs := os.Getenv("IOTHUB_CONNECTION_STRING")
	if cs == "" {
		hub, err := emulator.Start(ctx, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer hub.Close()
		cs = hub.ConnectionString()
	}
	if err := provision(ctx, os.Stdout, cs, *prefix, *n); err != nil {
		log.Fatal(err)
	}
}

func provision(ctx context.Context, out io.Writer, connectionString, prefix string, n int) error {
	client, err := registry.NewClientFromConnectionString(connectionString, nil)
	if err != nil {
		return err
	}
	devices := make([]*registry.Device, n)
	for i := range devices {
		devices[i] = &registry.Device{DeviceID: fmt.Sprintf("%s-%06d", prefix, i)}
	}
	start := time.Now()
	lastPct := -1
	res, err := client.CreateDevices(ctx, devices, &registry.BulkOptions{
		Concurrency: 4,
		Progress: func(done, total int) {
			if pct := done * 100 / total; pct/10 != lastPct/10 {
				lastPct = pct
				fmt.Fprintf(out, "%3d%% (%d of %d)\n", pct, done, total)
			}
		},
	})
	var be *registry.BulkError
	if err != nil && !errors.As(err, &be) {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(out, "registered %d of %d devices in %v (%.0f devices/s)\n", res.Succeeded, n, elapsed.Round(time.Millisecond), float64(res.Succeeded)/elapsed.Seconds())
	for _, f := range res.Failed {
		fmt.Fprintf(out, "failed %s: %v\n", f.DeviceID, f.Err)
	}
	return nil
}
