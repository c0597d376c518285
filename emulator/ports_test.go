package emulator_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/registry"
)

// standardPortsHost is the loopback address this package's standard-ports
// tests listen on: not 127.0.0.1, so that they run beside the interop
// suite, which takes localhost's standard ports.
const standardPortsHost = "127.0.0.2"

// startStandardPorts starts a standard-ports emulator on host, or skips
// the test, saying why, when the ports cannot be had (not root, or taken).
// CI sets IOTHUB_REQUIRE_STANDARD_PORTS, and there the test fails instead.
func startStandardPorts(t *testing.T, opts *emulator.Options) *emulator.Emulator {
	t.Helper()
	e, err := emulator.Start(context.Background(), opts)
	if err != nil && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EADDRINUSE)) {
		if os.Getenv("IOTHUB_REQUIRE_STANDARD_PORTS") != "" {
			t.Fatalf("standard ports are required here (IOTHUB_REQUIRE_STANDARD_PORTS): %v", err)
		}
		t.Skipf("skipped: ports 443, 5671 and 8883 on %s are not available to this process (run as root, or free them): %v", opts.Addr, err)
	}
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e
}

func TestStandardPorts(t *testing.T) {
	e := startStandardPorts(t, &emulator.Options{
		StandardPorts: true,
		Addr:          standardPortsHost,
		HostName:      standardPortsHost,
		Devices:       []emulator.DeviceSeed{{DeviceID: "d1"}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	assert.Equal(t, standardPortsHost, e.HostName(), "no port in the host name")
	assert.Equal(t, "https://"+standardPortsHost, e.URL())
	assert.NotContains(t, e.ConnectionString(), "UseDevelopmentEmulator", "standard ports are TLS")
	assert.Contains(t, e.ConnectionString(), "HostName="+standardPortsHost+";")
	assert.Contains(t, e.EventHubConnectionString(), "Endpoint=sb://"+standardPortsHost+"/;")
	var ports []string
	for _, a := range e.ListenAddrs() {
		ports = append(ports, a.String())
	}
	assert.ElementsMatch(t, []string{standardPortsHost + ":443", standardPortsHost + ":5671", standardPortsHost + ":8883"}, ports)

	t.Run("REST on 443", func(t *testing.T) {
		reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), &iothub.ClientOptions{TLSConfig: e.TLSConfig()})
		require.NoError(t, err)
		d, err := reg.GetDevice(ctx, "d1")
		require.NoError(t, err)
		assert.Equal(t, "d1", d.DeviceID)
	})
	t.Run("AMQP on 5671", func(t *testing.T) {
		c, err := c2d.NewClientFromConnectionString(e.ConnectionString(), &c2d.ClientOptions{ClientOptions: iothub.ClientOptions{TLSConfig: e.TLSConfig()}})
		require.NoError(t, err)
		defer c.Close(ctx)
		require.NoError(t, c.Send(ctx, "d1", &c2d.Message{Body: []byte("on")}))
		assert.Equal(t, 1, e.C2DQueueDepth("d1", ""))
	})
	t.Run("telemetry through the redirect", func(t *testing.T) {
		dev, err := e.Device("d1")
		require.NoError(t, err)
		require.NoError(t, dev.Connect(ctx))
		defer dev.Disconnect()
		require.NoError(t, dev.SendTelemetry(ctx, []byte("t1"), nil))
		for _, cs := range []string{e.ConnectionString(), e.EventHubConnectionString()} {
			consumer, err := eventhub.NewConsumerFromConnectionString(cs, &eventhub.ConsumerOptions{TLSConfig: e.TLSConfig()})
			require.NoError(t, err)
			props, err := consumer.Properties(ctx)
			require.NoError(t, err, cs[:20])
			assert.Len(t, props.PartitionIDs, 4)
			require.NoError(t, consumer.Close(ctx))
		}
	})
	t.Run("each port serves its protocol only", func(t *testing.T) {
		dial := func(port string) *tls.Conn {
			c, err := tls.Dial("tcp", net.JoinHostPort(standardPortsHost, port), e.TLSConfig())
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			return c
		}
		closed := func(c *tls.Conn, first []byte) {
			_, err := c.Write(first)
			require.NoError(t, err)
			_, err = io.ReadAll(c)
			require.NoError(t, err, "closed without an answer")
		}
		closed(dial("5671"), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		closed(dial("443"), []byte("AMQP\x03\x01\x00\x00"))
		closed(dial("8883"), []byte("AMQP\x03\x01\x00\x00"))
	})
}

// TestStandardPortsMQTT: devices connect with MQTTS on 8883 and with MQTT
// over secure WebSockets on 443, to the port-less host.
func TestStandardPortsMQTT(t *testing.T) {
	e := startStandardPorts(t, &emulator.Options{
		StandardPorts: true, Addr: standardPortsHost, HostName: standardPortsHost,
		Devices: []emulator.DeviceSeed{{DeviceID: "d1", PrimaryKey: deviceKey}},
	})
	for i, broker := range []string{"ssl://" + standardPortsHost + ":8883", "wss://" + standardPortsHost + ":443/$iothub/websocket"} {
		opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour)).SetTLSConfig(e.TLSConfig())
		opts.Servers = nil
		opts.AddBroker(broker)
		c := connectMQTT(t, opts)
		wait(t, c.Publish("devices/d1/messages/events/", 1, false, fmt.Sprintf("via %d", i)))
		c.Disconnect(50)
	}
	c, err := eventhub.NewConsumerFromConnectionString(e.ConnectionString(), &eventhub.ConsumerOptions{TLSConfig: e.TLSConfig()})
	require.NoError(t, err)
	defer c.Close(context.Background())
	var bodies []string
	for _, pid := range e.PartitionIDs() {
		r, err := c.NewPartitionReceiver(pid, &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
		require.NoError(t, err)
		short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		evs, _ := r.Receive(short, 10)
		cancel()
		for _, ev := range evs {
			bodies = append(bodies, string(ev.Body))
		}
		_ = r.Close(context.Background())
	}
	assert.ElementsMatch(t, []string{"via 0", "via 1"}, bodies)
}

func TestStandardPortsAudiences(t *testing.T) {
	e := startStandardPorts(t, &emulator.Options{StandardPorts: true, Addr: standardPortsHost, HostName: standardPortsHost})
	key := policyKey(e, "iothubowner")
	get := func(resource string) int {
		token := sign(t, resource, "iothubowner", key, time.Hour)
		req, err := http.NewRequest(http.MethodGet, e.URL()+"/statistics/devices?api-version=2021-04-12", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", token)
		resp, err := e.Client().Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, sr := range []string{standardPortsHost, standardPortsHost + ":443", "https://" + standardPortsHost + "/statistics", e.HubName() + ".azure-devices.net"} {
		assert.Equal(t, http.StatusOK, get(sr), sr)
	}
	for _, sr := range []string{"other.azure-devices.net", standardPortsHost + ":1234", "127.0.0.9"} {
		assert.Equal(t, http.StatusUnauthorized, get(sr), sr)
	}

	// CBS over AMQPS: the port-less host in sr and in the audience.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqps://"+standardPortsHost+":5671", &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), TLSConfig: e.TLSConfig()})
	require.NoError(t, err)
	defer conn.Close()
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(200), putToken(t, s, sign(t, standardPortsHost, "iothubowner", key, time.Hour), standardPortsHost))
	assert.Equal(t, int32(200), putToken(t, s, sign(t, standardPortsHost+"/messages/devicebound", "iothubowner", key, time.Hour), "amqps://"+standardPortsHost+"/messages/devicebound"))
	assert.Equal(t, int32(401), putToken(t, s, sign(t, "elsewhere", "iothubowner", key, time.Hour), standardPortsHost))

	// The telemetry redirect names what a client must dial: amqps on 5671
	// of the port-less host, in the address as in its fields.
	_, err = s.NewReceiver(ctx, "messages/events/ConsumerGroups/$Default/Partitions/1", nil)
	var remote *amqp.Error
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, amqp.ErrCondLinkRedirect, remote.Condition)
	assert.Equal(t, standardPortsHost, remote.Info["hostname"])
	assert.EqualValues(t, 5671, remote.Info["port"])
	assert.Equal(t, "amqps://"+standardPortsHost+":5671/"+e.HubName()+"/ConsumerGroups/$Default/Partitions/1", remote.Info["address"])
}

func TestStandardPortsCertificate(t *testing.T) {
	e := startStandardPorts(t, &emulator.Options{StandardPorts: true, Addr: standardPortsHost, HostName: standardPortsHost})
	c, err := tls.Dial("tcp", standardPortsHost+":443", e.TLSConfig())
	require.NoError(t, err)
	defer c.Close()
	leaf := c.ConnectionState().PeerCertificates[0]
	for _, name := range []string{"localhost", "127.0.0.1", "::1", standardPortsHost, e.HubName() + ".azure-devices.net"} {
		assert.NoError(t, leaf.VerifyHostname(name), name)
	}
}

func TestStandardPortsOptions(t *testing.T) {
	t.Parallel()
	_, err := emulator.Start(context.Background(), &emulator.Options{StandardPorts: true, Addr: "127.0.0.1:8443"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "without a port")
	_, err = emulator.Start(context.Background(), &emulator.Options{HostName: "myhub.local"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "only for StandardPorts")
}

// TestAMQPOverWebSockets attaches over /$iothub/websocket and
// /$servicebus/websocket with the AMQPWSB10 subprotocol, as the official
// SDKs' WebSocket transports do, on the single port (plain) and on 443.
func TestAMQPOverWebSockets(t *testing.T) {
	t.Parallel()
	single, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}, {DeviceID: "d2"}}})
	require.NoError(t, err)
	t.Cleanup(single.Close)
	targets := []struct {
		name string
		e    *emulator.Emulator
		url  string
	}{
		{"single port", single, "ws://" + single.HostName()},
	}
	for _, tt := range targets {
		for i, path := range []string{"/$iothub/websocket", "/$servicebus/websocket"} {
			t.Run(tt.name+path, func(t *testing.T) {
				t.Parallel()
				amqpOverWebSocket(t, tt.e, tt.url+path, fmt.Sprintf("d%d", i+1))
			})
		}
	}
	t.Run("443", func(t *testing.T) {
		e := startStandardPorts(t, &emulator.Options{StandardPorts: true, Addr: standardPortsHost, HostName: standardPortsHost, Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
		amqpOverWebSocket(t, e, "wss://"+standardPortsHost+"/$iothub/websocket", "d1")
	})
	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		resp, err := single.Client().Get(single.URL() + "/$iothub/websocket")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode, "not an upgrade")

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, tc := range []struct{ path, sub string }{
			{"/$iothub/websocket", "stomp"},    // no subprotocol the hub speaks
			{"/$servicebus/websocket", "mqtt"}, // devices connect to the hub, not the Event Hub endpoint
		} {
			c, _, err := websocket.Dial(ctx, "ws://"+single.HostName()+tc.path, &websocket.DialOptions{Subprotocols: []string{tc.sub}})
			require.NoError(t, err)
			_, _, err = c.Read(ctx)
			assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%s %s: %v", tc.path, tc.sub, err)
		}
	})
}

// TestMQTTOverWebSockets connects a device with subprotocol mqtt at
// /$iothub/websocket, as the official SDKs' MqttWs transports do, on the
// single port and on 443.
func TestMQTTOverWebSockets(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour))
	opts.Servers = nil
	opts.AddBroker("ws://" + e.HostName() + "/$iothub/websocket")
	c := connectMQTT(t, opts)
	wait(t, c.Publish("devices/d1/messages/events/k=ws", 1, false, "over WebSockets"))
	ev := readEvents(t, e, 1)[0]
	assert.Equal(t, "over WebSockets", string(ev.Body))
	assert.Equal(t, "ws", ev.Properties["k"])
}

func amqpOverWebSocket(t *testing.T, e *emulator.Emulator, url, deviceID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: e.Client(), Subprotocols: []string{"AMQPWSB10"}})
	require.NoError(t, err)
	if resp.Body != nil {
		resp.Body.Close()
	}
	assert.Equal(t, "AMQPWSB10", ws.Subprotocol())
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	conn, err := amqp.NewConn(ctx, nc, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), HostName: strings.Split(e.HostName(), ":")[0]})
	require.NoError(t, err)
	defer conn.Close()
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, int32(200), putToken(t, s, sign(t, e.HostName(), "service", policyKey(e, "service"), time.Hour), e.HostName()))
	snd, err := s.NewSender(ctx, "/messages/devicebound", nil)
	require.NoError(t, err)
	to := "/devices/" + deviceID + "/messages/devicebound"
	require.NoError(t, snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("over ws")}, Properties: &amqp.MessageProperties{To: &to, MessageID: "ws-1"}}, nil))
	assert.Equal(t, 1, e.C2DQueueDepth(deviceID, ""))
}

// TestWebSocketOutlivesHTTPTimeouts: an AMQP connection carried by a
// WebSocket upgrade is not cut by the HTTP server's read and idle
// time-outs.
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{
		HTTPReadTimeout: 200 * time.Millisecond, HTTPIdleTimeout: 200 * time.Millisecond,
		Devices: []emulator.DeviceSeed{{DeviceID: "d1"}},
	})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+e.HostName()+"/$iothub/websocket", &websocket.DialOptions{Subprotocols: []string{"AMQPWSB10"}})
	require.NoError(t, err)
	conn, err := amqp.NewConn(ctx, websocket.NetConn(context.Background(), ws, websocket.MessageBinary), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	time.Sleep(600 * time.Millisecond) // three read time-outs and idle time-outs long
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err, "the connection is still there")
	assert.Equal(t, int32(200), putToken(t, s, sign(t, e.HostName(), "service", policyKey(e, "service"), time.Hour), e.HostName()))
}
