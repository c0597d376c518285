package emulator_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator"
)

// benchDevices starts an emulator with n devices keyed deviceKey.
func benchDevices(b *testing.B, n int) (*emulator.Emulator, []string) {
	b.Helper()
	var seeds []emulator.DeviceSeed
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("bench-%02d", i)
		seeds = append(seeds, emulator.DeviceSeed{DeviceID: ids[i], PrimaryKey: deviceKey})
	}
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: seeds})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	return e, ids
}

// BenchmarkAMQPDeviceTelemetry sends 1 KB events from 1 and from 64
// devices at once, each on its own AMQP connection with its own token on
// $cbs, as the device SDKs connect, each send awaiting its disposition
// (the SDKs' sendEvent), and reports events/s stored in the built-in
// endpoint.
func BenchmarkAMQPDeviceTelemetry(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) { benchAMQPDeviceTelemetry(b, n) })
	}
}

func benchAMQPDeviceTelemetry(b *testing.B, n int) {
	e, ids := benchDevices(b, n)
	ctx := context.Background()
	senders := make([]*amqp.Sender, len(ids))
	for i, id := range ids {
		s := amqpDevice(b, e, id, deviceKey)
		snd, err := s.NewSender(ctx, "/devices/"+id+"/messages/events", nil)
		if err != nil {
			b.Fatal(err)
		}
		senders[i] = snd
	}
	body := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	per := (b.N + len(senders) - 1) / len(senders)
	var wg sync.WaitGroup
	for _, snd := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if err := snd.Send(ctx, &amqp.Message{Data: [][]byte{body}}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := int64(per * len(senders))
	for stored(b, e) < want {
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "events/s")
}
