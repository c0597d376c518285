package emulator_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator"
)

// benchDevices starts an emulator with n devices keyed deviceKey.
func benchDevices(b *testing.B, n int) (*emulator.Emulator, []string) {
	return benchDevicesTLS(b, n, false)
}

// benchDevicesTLS is benchDevices, serving TLS when tls is set.
func benchDevicesTLS(b *testing.B, n int, tls bool) (*emulator.Emulator, []string) {
	b.Helper()
	var seeds []emulator.DeviceSeed
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("bench-%02d", i)
		seeds = append(seeds, emulator.DeviceSeed{DeviceID: ids[i], PrimaryKey: deviceKey})
	}
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: seeds, TLS: tls})
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

// BenchmarkHTTPSDeviceTelemetry posts 1 KB events to
// /devices/{id}/messages/events from 1 and from 64 devices at once, over
// TLS and plain HTTP, each device with its own SAS token and keep-alive
// connection, each request awaiting its 204, and reports requests/s (every
// one an event stored in the built-in endpoint).
func BenchmarkHTTPSDeviceTelemetry(b *testing.B) {
	for _, tls := range []bool{true, false} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("tls=%t/devices=%d", tls, n), func(b *testing.B) { benchHTTPSDeviceTelemetry(b, n, tls) })
		}
	}
}

func benchHTTPSDeviceTelemetry(b *testing.B, n int, tls bool) {
	e, ids := benchDevicesTLS(b, n, tls)
	tokens := make([]string, n)
	for i, id := range ids {
		tokens[i] = deviceToken(b, e, id, deviceKey, time.Hour)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, TLSClientConfig: e.TLSConfig()}}
	defer client.CloseIdleConnections()
	body := make([]byte, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	per := (b.N + n - 1) / n
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := e.URL() + "/devices/" + id + "/messages/events?api-version=2021-04-12"
			for range per {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Authorization", tokens[i])
				req.Header.Set("iothub-app-kind", "bench")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*n)/b.Elapsed().Seconds(), "requests/s")
}
