package emulator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

// deviceKey is the symmetric key of the MQTT tests' devices.
const deviceKey = "ZGV2aWNlLWtleS1kZXZpY2Uta2V5LWRldmljZS1rZXk="

func mqttHub(t *testing.T, seeds ...emulator.DeviceSeed) *emulator.Emulator {
	t.Helper()
	for i := range seeds {
		if seeds[i].PrimaryKey == "" {
			seeds[i].PrimaryKey = deviceKey
		}
	}
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: seeds})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e
}

// deviceToken signs a SAS token for a device (or module) with key.
func deviceToken(t testing.TB, e *emulator.Emulator, id, key string, ttl time.Duration) string {
	t.Helper()
	deviceID, moduleID, _ := strings.Cut(id, "/modules/")
	resource := e.HostName() + "/devices/" + url.PathEscape(deviceID)
	if moduleID != "" {
		resource += "/modules/" + url.PathEscape(moduleID)
	}
	tok, err := auth.SignSAS(resource, "", key, time.Now().Add(ttl))
	require.NoError(t, err)
	return tok
}

// mqttOptions are the options an official device SDK would use.
func mqttOptions(e *emulator.Emulator, clientID, password string) *mqtt.ClientOptions {
	deviceID, moduleID, _ := strings.Cut(clientID, "/")
	user := e.HostName() + "/" + deviceID + "/"
	if moduleID != "" {
		user += moduleID + "/"
	}
	return mqtt.NewClientOptions().AddBroker("tcp://" + e.HostName()).SetClientID(clientID).
		SetUsername(user + "?api-version=2021-04-12").SetPassword(password).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetOrderMatters(false)
}

func connectMQTT(t *testing.T, opts *mqtt.ClientOptions) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func wait(t *testing.T, tok mqtt.Token) {
	t.Helper()
	require.True(t, tok.WaitTimeout(10*time.Second), "timed out")
	require.NoError(t, tok.Error())
}

func readEvents(t *testing.T, e *emulator.Emulator, n int) []*eventhub.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := eventhub.NewConsumerFromConnectionString(e.ConnectionString(), &eventhub.ConsumerOptions{TLSConfig: e.TLSConfig()})
	require.NoError(t, err)
	defer c.Close(ctx)
	var out []*eventhub.Event
	for _, pid := range e.PartitionIDs() {
		r, err := c.NewPartitionReceiver(pid, &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
		require.NoError(t, err)
		for {
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			evs, err := r.Receive(short, 100)
			cancel()
			if err != nil || len(evs) == 0 {
				break
			}
			out = append(out, evs...)
		}
		_ = r.Close(ctx)
	}
	require.Len(t, out, n)
	return out
}

func TestMQTTTelemetry(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Modules: []string{"m1"}})
	c := connectMQTT(t, mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour)))
	bag := "%24.mid=msg-1&%24.cid=corr-1&%24.ct=application%2Fjson&%24.ce=utf-8&temp%20unit=celsius&a%2Bb=x%26y"
	wait(t, c.Publish("devices/d1/messages/events/"+bag, 1, false, `{"t":21.5}`))
	wait(t, c.Publish("devices/d1/messages/events/", 0, true, "plain"))

	reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	d, err := reg.GetDevice(context.Background(), "d1")
	require.NoError(t, err)
	assert.Equal(t, registry.Connected, d.ConnectionState, "an MQTT connection shows as Connected")
	stats, err := reg.ServiceStatistics(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(1), stats.ConnectedDeviceCount)

	evs := readEvents(t, e, 2)
	var first, second *eventhub.Event
	for _, ev := range evs {
		if string(ev.Body) == `{"t":21.5}` {
			first = ev
		} else {
			second = ev
		}
	}
	require.NotNil(t, first)
	assert.Equal(t, "d1", first.DeviceID)
	assert.Equal(t, "msg-1", first.MessageID)
	assert.Equal(t, "corr-1", first.CorrelationID)
	assert.Equal(t, "application/json", first.ContentType)
	assert.Equal(t, "utf-8", first.ContentEncoding)
	assert.Equal(t, map[string]any{"temp unit": "celsius", "a+b": "x&y"}, first.Properties)
	require.NotNil(t, second)
	assert.Equal(t, "true", second.Properties["mqtt-retain"], "RETAIN is not kept; the hub adds mqtt-retain")

	// A module's telemetry, on its own topic.
	m := connectMQTT(t, mqttOptions(e, "d1/m1", deviceToken(t, e, "d1/modules/m1", moduleKey(t, e, "d1", "m1"), time.Hour)))
	wait(t, m.Publish("devices/d1/modules/m1/messages/events/", 1, false, "from the module"))
	evs = readEvents(t, e, 3)
	found := false
	for _, ev := range evs {
		if string(ev.Body) == "from the module" {
			found = true
			assert.Equal(t, "m1", ev.ModuleID)
		}
	}
	assert.True(t, found)
}

func moduleKey(t *testing.T, e *emulator.Emulator, deviceID, moduleID string) string {
	t.Helper()
	reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	m, err := reg.GetModule(context.Background(), deviceID, moduleID)
	require.NoError(t, err)
	return m.Authentication.SymmetricKey.PrimaryKey
}

// rawConnect sends a CONNECT and returns the CONNACK's return code (and
// the connection, open when accepted).
func rawConnect(t *testing.T, e *emulator.Emulator, version byte, clientID, username, password string, keepAlive uint16) (byte, net.Conn) {
	t.Helper()
	nc, err := net.Dial("tcp", e.HostName())
	require.NoError(t, err)
	return connectOn(t, nc, version, clientID, username, password, keepAlive), nc
}

// connectOn sends a CONNECT on nc (closed at the test's end) and returns
// the CONNACK's return code.
func connectOn(t *testing.T, nc net.Conn, version byte, clientID, username, password string, keepAlive uint16) byte {
	t.Helper()
	t.Cleanup(func() { nc.Close() })
	name := "MQTT"
	if version == 3 {
		name = "MQIsdp"
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: version,
		Connect: packets.ConnectParams{
			ProtocolName: []byte(name), ClientIdentifier: clientID, Clean: true, Keepalive: keepAlive,
			UsernameFlag: username != "", Username: []byte(username), PasswordFlag: password != "", Password: []byte(password),
		},
	}
	var buf bytes.Buffer
	require.NoError(t, pk.ConnectEncode(&buf))
	_, err := nc.Write(buf.Bytes())
	require.NoError(t, err)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp := make([]byte, 4)
	_, err = readFull(nc, resp)
	require.NoError(t, err)
	require.Equal(t, byte(0x20), resp[0], "CONNACK")
	_ = nc.SetReadDeadline(time.Time{})
	return resp[3]
}

func readFull(c net.Conn, b []byte) (int, error) {
	return bufio.NewReader(c).Read(b)
}

func TestMQTTConnectRefusals(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"}, emulator.DeviceSeed{DeviceID: "off", Disabled: true})
	user := func(id string) string { return e.HostName() + "/" + id + "/?api-version=2021-04-12" }
	good := deviceToken(t, e, "d1", deviceKey, time.Hour)
	owner := e.Policies()[0]
	policyTok, err := auth.SignSAS(e.HostName()+"/devices/d1", owner.Name, owner.PrimaryKey, time.Now().Add(time.Hour))
	require.NoError(t, err)
	serviceTok, err := auth.SignSAS(e.HostName(), "service", policyKey(e, "service"), time.Now().Add(time.Hour))
	require.NoError(t, err)
	cases := []struct {
		name                string
		version             byte
		client, user, token string
		want                byte
	}{
		{"accepted", 4, "d1", user("d1"), good, 0},
		{"a policy with DeviceConnect", 4, "d1", user("d1"), policyTok, 0},
		{"a policy without DeviceConnect", 4, "d1", user("d1"), serviceTok, 5},
		{"wrong key", 4, "d1", user("d1"), deviceToken(t, e, "d1", "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=", time.Hour), 5},
		{"expired token", 4, "d1", user("d1"), deviceToken(t, e, "d1", deviceKey, -time.Minute), 5},
		{"another device's token", 4, "d1", user("d1"), deviceToken(t, e, "off", deviceKey, time.Hour), 5},
		{"unknown device", 4, "ghost", user("ghost"), deviceToken(t, e, "ghost", deviceKey, time.Hour), 5},
		{"disabled device", 4, "off", user("off"), deviceToken(t, e, "off", deviceKey, time.Hour), 5},
		{"no password", 4, "d1", user("d1"), "", 5},
		{"client id and user name differ", 4, "d1", user("off"), good, 2},
		{"malformed user name", 4, "d1", "just-a-name", good, 4},
		{"another hub's host", 4, "d1", "other.azure-devices.net/d1/?api-version=2021-04-12", good, 5},
		{"MQTT 3.1", 3, "d1", user("d1"), good, 1},
		{"MQTT 5", 5, "d1", user("d1"), good, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _ := rawConnect(t, e, tc.version, tc.client, tc.user, tc.token, 60)
			assert.Equal(t, tc.want, code)
		})
	}
}

func TestMQTTMethods(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour))
	c := connectMQTT(t, opts)
	wait(t, c.Subscribe("$iothub/methods/POST/#", 0, func(c mqtt.Client, m mqtt.Message) {
		// $iothub/methods/POST/{name}/?$rid={rid}
		rest := strings.TrimPrefix(m.Topic(), "$iothub/methods/POST/")
		name, query, _ := strings.Cut(rest, "/?")
		rid := strings.TrimPrefix(query, "$rid=")
		body := fmt.Sprintf(`{"method":%q,"got":%s}`, name, m.Payload())
		c.Publish("$iothub/methods/res/201/?$rid="+rid, 0, false, body)
	}))
	mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	resp, err := mc.Invoke(context.Background(), "d1", &methods.Request{MethodName: "reboot", Payload: json.RawMessage(`{"delay":5}`), ResponseTimeout: 5 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 201, resp.Status)
	assert.JSONEq(t, `{"method":"reboot","got":{"delay":5}}`, string(resp.Payload))

	c.Disconnect(50)
	_, err = mc.Invoke(context.Background(), "d1", &methods.Request{MethodName: "reboot", ResponseTimeout: 5 * time.Second})
	require.ErrorIs(t, err, iothub.ErrDeviceNotOnline)
}

func TestMQTTTwin(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Desired: map[string]any{"interval": 30}})
	opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour))
	// As the official SDKs write it: the model id percent-encoded.
	opts.SetUsername(e.HostName() + "/d1/?api-version=2021-04-12&DeviceClientType=test&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1")
	c := connectMQTT(t, opts)
	responses := make(chan mqtt.Message, 10)
	desired := make(chan mqtt.Message, 10)
	wait(t, c.Subscribe("$iothub/twin/res/#", 0, func(_ mqtt.Client, m mqtt.Message) { responses <- m }))
	wait(t, c.Subscribe("$iothub/twin/PATCH/properties/desired/#", 0, func(_ mqtt.Client, m mqtt.Message) { desired <- m }))

	wait(t, c.Publish("$iothub/twin/GET/?$rid=1", 0, false, ""))
	r := <-responses
	assert.Equal(t, "$iothub/twin/res/200/?$rid=1", r.Topic())
	var tw map[string]map[string]any
	require.NoError(t, json.Unmarshal(r.Payload(), &tw))
	assert.EqualValues(t, 30, tw["desired"]["interval"])
	assert.NotContains(t, tw["desired"], "$metadata")

	wait(t, c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=2", 0, false, `{"firmware":"2.0"}`))
	r = <-responses
	assert.Equal(t, "$iothub/twin/res/204/?$rid=2&$version=2", r.Topic())
	wait(t, c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=3", 0, false, `[1]`))
	r = <-responses
	assert.True(t, strings.HasPrefix(r.Topic(), "$iothub/twin/res/400/?$rid=3"), r.Topic())

	tc, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	got, err := tc.Get(context.Background(), "d1")
	require.NoError(t, err)
	assert.Equal(t, "2.0", got.Properties.Reported["firmware"])
	assert.Equal(t, "dtmi:com:example:Thermostat;1", got.ModelID, "the user name's model-id becomes the twin's modelId")

	_, err = tc.Update(context.Background(), "d1", &twin.Patch{Desired: map[string]any{"interval": 60}})
	require.NoError(t, err)
	select {
	case m := <-desired:
		assert.Equal(t, "$iothub/twin/PATCH/properties/desired/?$version=3", m.Topic(), "the seed made version 2")
		assert.JSONEq(t, `{"interval":60,"$version":3}`, string(m.Payload()))
	case <-time.After(10 * time.Second):
		t.Fatal("no desired patch")
	}
}

func TestMQTTC2D(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	got := make(chan mqtt.Message, 10)
	opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour))
	c := connectMQTT(t, opts)
	wait(t, c.Subscribe("devices/d1/messages/devicebound/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }))

	cc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	defer cc.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, cc.Send(ctx, "d1", &c2d.Message{Body: []byte("on"), MessageID: "c-1", CorrelationID: "k-1", Ack: c2d.AckFull, Properties: map[string]string{"color": "red & blue"}}))
	var m mqtt.Message
	select {
	case m = <-got:
	case <-ctx.Done():
		t.Fatal("no C2D message")
	}
	assert.Equal(t, "on", string(m.Payload()))
	bag, ok := strings.CutPrefix(m.Topic(), "devices/d1/messages/devicebound/")
	require.True(t, ok, m.Topic())
	props, err := url.ParseQuery(bag)
	require.NoError(t, err)
	assert.Equal(t, "c-1", props.Get("$.mid"))
	assert.Equal(t, "k-1", props.Get("$.cid"))
	assert.Equal(t, "red & blue", props.Get("color"))
	assert.Equal(t, "full", props.Get("iothub-ack"))

	// paho acknowledged it: the hub completes it and reports Success.
	fctx, stop := context.WithCancel(ctx)
	var record *c2d.FeedbackRecord
	_ = cc.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		record = &b.Records[0]
		stop()
		return nil
	})
	require.NotNil(t, record)
	assert.Equal(t, "c-1", record.OriginalMessageID)
	assert.Equal(t, c2d.StatusSuccess, record.StatusCode)
	assert.Zero(t, e.C2DQueueDepth("d1", ""))
}

// TestMQTTCleanSession: with CleanSession 0 a device that reconnects gets
// the C2D message sent while it was away without subscribing again; with
// CleanSession 1 its subscription is gone.
func TestMQTTCleanSession(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	cc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	defer cc.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	got := make(chan mqtt.Message, 10)
	opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour)).SetCleanSession(false).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m })
	c := connectMQTT(t, opts)
	wait(t, c.Subscribe("devices/d1/messages/devicebound/#", 1, nil))
	c.Disconnect(50)

	require.NoError(t, cc.Send(ctx, "d1", &c2d.Message{Body: []byte("while away")}))
	c2 := connectMQTT(t, opts) // no SUBSCRIBE this time
	select {
	case m := <-got:
		assert.Equal(t, "while away", string(m.Payload()))
	case <-ctx.Done():
		t.Fatal("the kept subscription delivered nothing")
	}
	require.Eventually(t, func() bool { return e.C2DQueueDepth("d1", "") == 0 }, 5*time.Second, 10*time.Millisecond, "completed by the PUBACK")
	c2.Disconnect(50)

	clean := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour)).SetCleanSession(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m })
	c3 := connectMQTT(t, clean)
	c3.Disconnect(50)
	require.NoError(t, cc.Send(ctx, "d1", &c2d.Message{Body: []byte("after a clean session")}))
	c4 := connectMQTT(t, opts)
	select {
	case m := <-got:
		t.Fatalf("a clean session kept the subscription: got %q", m.Payload())
	case <-time.After(500 * time.Millisecond):
	}
	assert.Equal(t, 1, e.C2DQueueDepth("d1", ""), "the message waits in the hub's queue")
	c4.Disconnect(50)
}

// closedBy connects, runs act, and reports whether the hub closed the
// connection within a few seconds.
func closedBy(t *testing.T, e *emulator.Emulator, act func(c mqtt.Client)) bool {
	t.Helper()
	lost := make(chan error, 1)
	opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour)).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	c := connectMQTT(t, opts)
	act(c)
	select {
	case <-lost:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

func TestMQTTRules(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"}, emulator.DeviceSeed{DeviceID: "d2"})
	t.Run("another device's telemetry topic closes the connection", func(t *testing.T) {
		assert.True(t, closedBy(t, e, func(c mqtt.Client) { c.Publish("devices/d2/messages/events/", 1, false, "x") }))
	})
	t.Run("QoS 2 closes the connection", func(t *testing.T) {
		assert.True(t, closedBy(t, e, func(c mqtt.Client) { c.Publish("devices/d1/messages/events/", 2, false, "x") }))
	})
	t.Run("a message over 256 KB closes the connection", func(t *testing.T) {
		assert.True(t, closedBy(t, e, func(c mqtt.Client) {
			c.Publish("devices/d1/messages/events/", 1, false, bytes.Repeat([]byte("x"), 256*1024+1))
		}))
	})
	t.Run("256 KB is accepted", func(t *testing.T) {
		assert.False(t, closedBy(t, e, func(c mqtt.Client) {
			wait(t, c.Publish("devices/d1/messages/events/", 1, false, bytes.Repeat([]byte("x"), 256*1024)))
		}))
	})
	t.Run("subscriptions to another's topics are refused, QoS 2 granted as 1", func(t *testing.T) {
		code, nc := rawConnect(t, e, 4, "d1", e.HostName()+"/d1/?api-version=2021-04-12", deviceToken(t, e, "d1", deviceKey, time.Hour), 60)
		require.Zero(t, code)
		sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 7, ProtocolVersion: 4,
			Filters: packets.Subscriptions{{Filter: "devices/d2/messages/devicebound/#", Qos: 1}, {Filter: "devices/d1/messages/devicebound/#", Qos: 2}, {Filter: "#", Qos: 0}}}
		var buf bytes.Buffer
		require.NoError(t, sub.SubscribeEncode(&buf))
		_, err := nc.Write(buf.Bytes())
		require.NoError(t, err)
		resp := make([]byte, 7)
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = readFull(nc, resp)
		require.NoError(t, err)
		assert.Equal(t, []byte{0x90, 5, 0, 7, 0x80, 1, 0x80}, resp)
	})
	t.Run("a second connection replaces the first", func(t *testing.T) {
		assert.True(t, closedBy(t, e, func(mqtt.Client) {
			connectMQTT(t, mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour)))
		}))
	})
	t.Run("disabling the device disconnects it", func(t *testing.T) {
		assert.True(t, closedBy(t, e, func(mqtt.Client) {
			reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
			require.NoError(t, err)
			d, err := reg.GetDevice(context.Background(), "d1")
			require.NoError(t, err)
			d.Status = registry.StatusDisabled
			d.ETag = "*"
			_, err = reg.UpdateDevice(context.Background(), d)
			require.NoError(t, err)
			t.Cleanup(func() {
				d.Status = registry.StatusEnabled
				_, _ = reg.UpdateDevice(context.Background(), d)
			})
		}))
	})
}

func TestMQTTTokenExpiry(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	lost := make(chan error, 1)
	opts := mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, 2*time.Second)).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	connectMQTT(t, opts)
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection outlived its token")
	}
}

func TestMQTTKeepAlive(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	code, nc := rawConnect(t, e, 4, "d1", e.HostName()+"/d1/?api-version=2021-04-12", deviceToken(t, e, "d1", deviceKey, time.Hour), 1)
	require.Zero(t, code)
	start := time.Now()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := nc.Read(make([]byte, 1))
	require.Error(t, err, "closed")
	assert.Less(t, time.Since(start), 5*time.Second, "after 1.5 keep-alives of silence")
	assert.GreaterOrEqual(t, time.Since(start), time.Second)
}

// TestSimulatedAndMQTTDevicesLookAlike runs one scenario with a simulated
// device and with an MQTT device and compares what the service sees.
func TestSimulatedAndMQTTDevicesLookAlike(t *testing.T) {
	t.Parallel()
	scenario := func(t *testing.T, asMQTT bool) map[string]any {
		e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
		ctx := context.Background()
		if asMQTT {
			c := connectMQTT(t, mqttOptions(e, "d1", deviceToken(t, e, "d1", deviceKey, time.Hour)))
			wait(t, c.Subscribe("$iothub/methods/POST/#", 0, func(c mqtt.Client, m mqtt.Message) {
				rid := m.Topic()[strings.Index(m.Topic(), "$rid=")+5:]
				c.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, m.Payload())
			}))
			wait(t, c.Subscribe("$iothub/twin/res/#", 0, func(mqtt.Client, mqtt.Message) {}))
			wait(t, c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=1", 0, false, `{"fw":"1.0"}`))
			wait(t, c.Publish("devices/d1/messages/events/k=v", 1, false, "hello"))
		} else {
			d, err := e.Device("d1")
			require.NoError(t, err)
			require.NoError(t, d.Connect(ctx))
			t.Cleanup(d.Disconnect)
			d.HandleMethod("echo", func(_ context.Context, p json.RawMessage) (int, any) { return 200, p })
			_, err = d.ReportProperties(ctx, map[string]any{"fw": "1.0"})
			require.NoError(t, err)
			require.NoError(t, d.SendTelemetry(ctx, []byte("hello"), &emulator.TelemetryOptions{Properties: map[string]string{"k": "v"}}))
		}
		mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
		require.NoError(t, err)
		resp, err := mc.Invoke(ctx, "d1", &methods.Request{MethodName: "echo", Payload: json.RawMessage(`{"x":1}`), ResponseTimeout: 5 * time.Second})
		require.NoError(t, err)
		tc, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
		require.NoError(t, err)
		var tw *twin.Twin
		require.Eventually(t, func() bool {
			tw, err = tc.Get(ctx, "d1")
			return err == nil && tw.Properties.Reported["fw"] == "1.0"
		}, 5*time.Second, 20*time.Millisecond)
		ev := readEvents(t, e, 1)[0]
		return map[string]any{
			"status": resp.Status, "payload": string(resp.Payload), "connection": tw.ConnectionState,
			"reportedVersion": tw.Properties.Reported["$version"], "body": string(ev.Body), "props": ev.Properties,
			"device": ev.DeviceID,
		}
	}
	var mu sync.Mutex
	results := map[bool]map[string]any{}
	for _, asMQTT := range []bool{false, true} {
		r := scenario(t, asMQTT)
		mu.Lock()
		results[asMQTT] = r
		mu.Unlock()
	}
	assert.Equal(t, results[false], results[true])
}
