package emulator_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
// QoS 0 and QoS 1 (each publish awaiting its PUBACK), and reports events/s:
// hub=emulator counts them stored in the built-in endpoint; hub=sink sends
// the same clients to a server that only frames packets and acknowledges
// them, so its figure is what the clients themselves can send, the ceiling
// the emulator is measured against.
func BenchmarkMQTTTelemetry(b *testing.B) {
	body := make([]byte, 1024)
	for _, qos := range []byte{0, 1} {
		for _, target := range []string{"emulator", "sink"} {
			b.Run(fmt.Sprintf("qos=%d/hub=%s", qos, target), func(b *testing.B) {
				var clients []mqtt.Client
				var e *emulator.Emulator
				var sink *mqttSink
				if target == "emulator" {
					e, clients = mqttDevices(b, 64)
				} else {
					sink, clients = sinkDevices(b, 64)
				}
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
				// Every event has arrived before the clock stops.
				want := int64(per * len(clients))
				for {
					var got int64
					if e != nil {
						got = stored(b, e)
					} else {
						got = sink.published.Load()
					}
					if got >= want {
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
				b.StopTimer()
				b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// mqttSink is the cheapest MQTT server there can be: it reads each
// packet's frame, accepts every CONNECT, acknowledges QoS 1 publishes and
// pings, and counts publishes; it keeps nothing.
type mqttSink struct {
	ln        net.Listener
	published atomic.Int64
}

func newMQTTSink(b *testing.B) *mqttSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &mqttSink{ln: ln}
	b.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *mqttSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var mu sync.Mutex // paho reads while it writes: answers go out as packets arrive
	answer := func(p ...byte) bool {
		mu.Lock()
		defer mu.Unlock()
		_, err := c.Write(p)
		return err == nil
	}
	for {
		h, err := r.ReadByte()
		if err != nil {
			return
		}
		n, mult := 0, 1
		for {
			d, err := r.ReadByte()
			if err != nil {
				return
			}
			n += int(d&0x7f) * mult
			if d&0x80 == 0 {
				break
			}
			mult *= 128
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		ok := true
		switch h >> 4 {
		case 1: // CONNECT
			ok = answer(0x20, 2, 0, 0)
		case 3: // PUBLISH
			s.published.Add(1)
			if (h>>1)&3 == 1 && n >= 2 {
				tl := int(binary.BigEndian.Uint16(body))
				if len(body) >= 4+tl {
					ok = answer(0x40, 2, body[2+tl], body[3+tl])
				}
			}
		case 12: // PINGREQ
			ok = answer(0xd0, 0)
		case 14: // DISCONNECT
			return
		}
		if !ok {
			return
		}
	}
}

// sinkDevices connects n paho devices, set up as mqttDevices sets them up,
// to a fresh sink.
func sinkDevices(b *testing.B, n int) (*mqttSink, []mqtt.Client) {
	b.Helper()
	s := newMQTTSink(b)
	clients := make([]mqtt.Client, n)
	for i := range n {
		id := fmt.Sprintf("bench-%02d", i)
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + s.ln.Addr().String()).SetClientID(id).
			SetUsername(s.ln.Addr().String() + "/" + id + "/?api-version=2021-04-12").SetPassword("unused").
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetOrderMatters(false).
			SetMaxResumePubInFlight(1000)
		c := mqtt.NewClient(opts)
		if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			b.Fatalf("connect: %v", t.Error())
		}
		b.Cleanup(func() { c.Disconnect(10) })
		clients[i] = c
	}
	return s, clients
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
