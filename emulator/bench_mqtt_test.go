package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/methods"
)

// mqttDevices connects n paho devices to a fresh emulator.
func mqttDevices(b *testing.B, n int) (*emulator.Emulator, []mqtt.Client) {
	b.Helper()
	var seeds []emulator.DeviceSeed
	for i := range n {
		seeds = append(seeds, emulator.DeviceSeed{DeviceID: fmt.Sprintf("bench-%02d", i), PrimaryKey: deviceKey})
	}
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: seeds})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	clients := make([]mqtt.Client, n)
	for i, s := range seeds {
		tok, err := signDevice(e, s.DeviceID)
		if err != nil {
			b.Fatal(err)
		}
		c := mqtt.NewClient(mqttOptions(e, s.DeviceID, tok).SetMaxResumePubInFlight(1000))
		if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			b.Fatalf("connect: %v", t.Error())
		}
		b.Cleanup(func() { c.Disconnect(10) })
		clients[i] = c
	}
	return e, clients
}

// BenchmarkMQTTTelemetry publishes 1 KB events from 64 devices at once,
// QoS 0 and QoS 1 (each publish awaiting its PUBACK), and reports events/s
// stored in the built-in endpoint.
func BenchmarkMQTTTelemetry(b *testing.B) {
	body := make([]byte, 1024)
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos=%d", qos), func(b *testing.B) {
			e, clients := mqttDevices(b, 64)
			b.ReportAllocs()
			b.ResetTimer()
			per := (b.N + len(clients) - 1) / len(clients)
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					topic := fmt.Sprintf("devices/bench-%02d/messages/events/", i)
					var last mqtt.Token
					for range per {
						last = c.Publish(topic, qos, false, body)
						if qos == 1 {
							last.Wait()
						}
					}
					if last != nil {
						last.Wait()
					}
				}()
			}
			wg.Wait()
			// Every event is in the endpoint before the clock stops.
			want := int64(per * len(clients))
			for stored(b, e) < want {
				time.Sleep(2 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// stored counts the events of every partition, as $management reports them.
func stored(b *testing.B, e *emulator.Emulator) int64 {
	c, err := eventhub.NewConsumerFromConnectionString(e.ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int64
	for _, pid := range e.PartitionIDs() {
		p, err := c.PartitionProperties(context.Background(), pid)
		if err != nil {
			b.Fatal(err)
		}
		n += p.LastEnqueuedSequenceNumber + 1
	}
	return n
}

// BenchmarkMQTTMethods invokes a direct method on one of 16 MQTT devices
// per call, 16 calls at once, and reports round trips/s.
func BenchmarkMQTTMethods(b *testing.B) {
	e, clients := mqttDevices(b, 16)
	for _, c := range clients {
		if t := c.Subscribe("$iothub/methods/POST/#", 0, func(c mqtt.Client, m mqtt.Message) {
			rid := m.Topic()[strings.Index(m.Topic(), "$rid=")+5:]
			c.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, m.Payload())
		}); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			b.Fatal(t.Error())
		}
	}
	mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n sync.Mutex
	i := 0
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			id := fmt.Sprintf("bench-%02d", i%len(clients))
			i++
			n.Unlock()
			if _, err := mc.Invoke(context.Background(), id, &methods.Request{MethodName: "echo", Payload: json.RawMessage(`{"n":1}`), ResponseTimeout: 10 * time.Second}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func signDevice(e *emulator.Emulator, id string) (string, error) {
	return auth.SignSAS(e.HostName()+"/devices/"+id, "", deviceKey, time.Now().Add(time.Hour))
}
