package emulator_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
)

// stateModes are the two ways an emulator keeps its state, compared by the
// benchmarks below: in memory, and in a state directory on this machine's
// disk (every answer waits for its fsync, shared by the writes in flight).
var stateModes = []struct {
	name     string
	stateDir func(b *testing.B) string
}{
	{"memory", func(*testing.B) string { return "" }},
	{"state-dir", func(b *testing.B) string { return b.TempDir() }},
}

// BenchmarkBulkCreateStateDir registers 10,000 devices through the SDK's
// bulk API (calls of 100, 8 in flight) over HTTP, into an emulator with and
// without a state directory, and reports devices/s.
func BenchmarkBulkCreateStateDir(b *testing.B) {
	const n = 10_000
	devices := make([]*registry.Device, n)
	for i := range devices {
		devices[i] = &registry.Device{DeviceID: fmt.Sprintf("bulk-%05d", i)}
	}
	for _, mode := range stateModes {
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				b.StopTimer()
				e, err := emulator.Start(context.Background(), &emulator.Options{StateDir: mode.stateDir(b)})
				if err != nil {
					b.Fatal(err)
				}
				reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), &iothub.ClientOptions{HTTPClient: e.Client()})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := reg.CreateDevices(context.Background(), devices, nil); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				total += n
				e.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "devices/s")
		})
	}
}

// BenchmarkTelemetryIngestStateDir appends 1 KB events from 16 simulated
// devices sending at once, with and without a state directory, and reports
// events/s.
func BenchmarkTelemetryIngestStateDir(b *testing.B) {
	const devices = 16
	body := make([]byte, 1024)
	for _, mode := range stateModes {
		b.Run(mode.name, func(b *testing.B) {
			var seeds []emulator.DeviceSeed
			for i := range devices {
				seeds = append(seeds, emulator.DeviceSeed{DeviceID: fmt.Sprintf("sender-%02d", i)})
			}
			e, err := emulator.Start(context.Background(), &emulator.Options{StateDir: mode.stateDir(b), Devices: seeds})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			sims := make([]*emulator.SimulatedDevice, devices)
			for i, s := range seeds {
				if sims[i], err = e.Device(s.DeviceID); err != nil {
					b.Fatal(err)
				}
				if err := sims[i].Connect(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + devices - 1) / devices
			for _, d := range sims {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						if err := d.SendTelemetry(context.Background(), body, nil); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*devices)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
