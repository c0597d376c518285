package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/twin"
)

// pathDevice is one device on one of the ways a device reaches the hub.
type pathDevice interface {
	// send sends one telemetry message with an application property.
	send(t *testing.T, body string, props map[string]string)
	// report patches the reported properties; false when the path has no
	// twin (HTTPS).
	report(t *testing.T, patch map[string]any) bool
	// receive waits for one C2D message and completes it.
	receive(t *testing.T) string
}

// TestDevicePaths runs one scenario over every way a device reaches the
// hub — a simulated device, MQTT, AMQP and HTTPS — and checks the service
// sees the same: the telemetry with its properties, the reported
// properties in the twin (HTTPS has none), and the C2D message's Success
// feedback.
func TestDevicePaths(t *testing.T) {
	t.Parallel()
	paths := map[string]func(t *testing.T, e *emulator.Emulator, id string) pathDevice{
		"simulated": newSimPath,
		"mqtt":      newMQTTPath,
		"amqp":      newAMQPPath,
		"https":     newHTTPSPath,
	}
	var seeds []emulator.DeviceSeed
	for name := range paths {
		seeds = append(seeds, emulator.DeviceSeed{DeviceID: "path-" + name})
	}
	e := mqttHub(t, seeds...)
	ctx := tctx(t)
	cc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	defer cc.Close(context.Background())
	tc, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)

	devices := map[string]pathDevice{}
	for name, open := range paths {
		id := "path-" + name
		d := open(t, e, id)
		devices[id] = d
		d.send(t, `{"reading":1}`, map[string]string{"path": name, "kind": "reading"})
		if d.report(t, map[string]any{"firmware": "3.1", "path": name}) { // HTTPS devices have no twin
			tw, err := tc.Get(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, "3.1", tw.Properties.Reported["firmware"], name)
			assert.Equal(t, name, tw.Properties.Reported["path"], name)
		}
		require.NoError(t, cc.Send(ctx, id, &c2d.Message{Body: []byte("hello " + name), MessageID: "msg-" + name, Ack: c2d.AckFull}))
		assert.Equal(t, "hello "+name, d.receive(t), name)
	}

	evs := readEvents(t, e, len(paths))
	for _, ev := range evs {
		name := strings.TrimPrefix(ev.DeviceID, "path-")
		assert.Equal(t, `{"reading":1}`, string(ev.Body), name)
		assert.Equal(t, name, ev.Properties["path"], name)
		assert.Equal(t, "reading", ev.Properties["kind"], name)
	}

	got := map[string]c2d.FeedbackStatus{}
	fctx, stop := context.WithTimeout(ctx, 15*time.Second)
	defer stop()
	_ = cc.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		for _, r := range b.Records {
			got[r.DeviceID] = r.StatusCode
		}
		if len(got) == len(paths) {
			stop()
		}
		return nil
	})
	for id := range devices {
		assert.Equal(t, c2d.StatusSuccess, got[id], id)
	}
}

type simPath struct{ d *emulator.SimulatedDevice }

func newSimPath(t *testing.T, e *emulator.Emulator, id string) pathDevice {
	d, err := e.Device(id)
	require.NoError(t, err)
	require.NoError(t, d.Connect(tctx(t)))
	t.Cleanup(d.Disconnect)
	return simPath{d}
}

func (p simPath) send(t *testing.T, body string, props map[string]string) {
	require.NoError(t, p.d.SendTelemetry(tctx(t), []byte(body), &emulator.TelemetryOptions{Properties: props}))
}

func (p simPath) report(t *testing.T, patch map[string]any) bool {
	_, err := p.d.ReportProperties(tctx(t), patch)
	require.NoError(t, err)
	return true
}

func (p simPath) receive(t *testing.T) string {
	m, err := p.d.ReceiveC2D(tctx(t))
	require.NoError(t, err)
	require.NoError(t, m.Complete(tctx(t)))
	return string(m.Body)
}

type mqttPath struct {
	c       mqtt.Client
	id      string
	twinRes chan mqtt.Message
	c2d     chan mqtt.Message
}

func newMQTTPath(t *testing.T, e *emulator.Emulator, id string) pathDevice {
	p := &mqttPath{id: id, twinRes: make(chan mqtt.Message, 4), c2d: make(chan mqtt.Message, 4)}
	p.c = connectMQTT(t, mqttOptions(e, id, deviceToken(t, e, id, deviceKey, time.Hour)))
	wait(t, p.c.Subscribe("$iothub/twin/res/#", 0, func(_ mqtt.Client, m mqtt.Message) { p.twinRes <- m }))
	wait(t, p.c.Subscribe("devices/"+id+"/messages/devicebound/#", 1, func(_ mqtt.Client, m mqtt.Message) { p.c2d <- m }))
	return p
}

func (p *mqttPath) send(t *testing.T, body string, props map[string]string) {
	bag := url.Values{}
	for k, v := range props {
		bag.Set(k, v)
	}
	wait(t, p.c.Publish("devices/"+p.id+"/messages/events/"+bag.Encode(), 1, false, body))
}

func (p *mqttPath) report(t *testing.T, patch map[string]any) bool {
	b, err := json.Marshal(patch)
	require.NoError(t, err)
	wait(t, p.c.Publish("$iothub/twin/PATCH/properties/reported/?$rid=1", 0, false, b))
	select {
	case m := <-p.twinRes:
		require.True(t, strings.HasPrefix(m.Topic(), "$iothub/twin/res/204/"), m.Topic())
	case <-time.After(10 * time.Second):
		t.Fatal("no twin response")
	}
	return true
}

func (p *mqttPath) receive(t *testing.T) string {
	select {
	case m := <-p.c2d:
		return string(m.Payload()) // paho acknowledges: the hub completes it
	case <-time.After(10 * time.Second):
		t.Fatal("no C2D message")
		return ""
	}
}

type amqpPath struct {
	events   *amqp.Sender
	twinSnd  *amqp.Sender
	twinRcv  *amqp.Receiver
	c2d      *amqp.Receiver
	requests int
}

func newAMQPPath(t *testing.T, e *emulator.Emulator, id string) pathDevice {
	s := amqpDevice(t, e, id, deviceKey)
	ctx := tctx(t)
	p := &amqpPath{}
	var err error
	p.events, err = s.NewSender(ctx, "/devices/"+id+"/messages/events", nil)
	require.NoError(t, err)
	p.twinSnd, p.twinRcv = linkPair(t, s, "/devices/"+id+"/twin", "twin:"+id)
	p.c2d, err = s.NewReceiver(ctx, "/devices/"+id+"/messages/devicebound", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)
	return p
}

func (p *amqpPath) send(t *testing.T, body string, props map[string]string) {
	app := map[string]any{}
	for k, v := range props {
		app[k] = v
	}
	require.NoError(t, p.events.Send(tctx(t), &amqp.Message{Data: [][]byte{[]byte(body)}, ApplicationProperties: app}, nil))
}

func (p *amqpPath) report(t *testing.T, patch map[string]any) bool {
	b, err := json.Marshal(patch)
	require.NoError(t, err)
	p.requests++
	r := twinRequest(t, p.twinSnd, p.twinRcv, "PATCH", "/properties/reported", fmt.Sprint(p.requests), b)
	require.EqualValues(t, 204, r.Annotations["status"])
	return true
}

func (p *amqpPath) receive(t *testing.T) string {
	ctx := tctx(t)
	m, err := p.c2d.Receive(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, p.c2d.AcceptMessage(ctx, m))
	return string(m.GetData())
}

type httpsPath struct {
	e     *emulator.Emulator
	id    string
	token string
}

func newHTTPSPath(t *testing.T, e *emulator.Emulator, id string) pathDevice {
	return &httpsPath{e: e, id: id, token: deviceToken(t, e, id, deviceKey, time.Hour)}
}

func (p *httpsPath) send(t *testing.T, body string, props map[string]string) {
	var headers []string
	for k, v := range props {
		headers = append(headers, "iothub-app-"+k, v)
	}
	r := httpDevice(t, p.e, "POST", "/devices/"+p.id+"/messages/events?api-version=2021-04-12", p.token, []byte(body), headers...)
	require.Equal(t, 204, r.Status, string(r.Body))
}

func (p *httpsPath) report(*testing.T, map[string]any) bool { return false }

func (p *httpsPath) receive(t *testing.T) string {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r := httpDevice(t, p.e, "GET", "/devices/"+p.id+"/messages/deviceBound?api-version=2021-04-12", p.token, nil)
		if r.Status == 204 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		require.Equal(t, 200, r.Status, string(r.Body))
		etag := strings.Trim(r.Header.Get("ETag"), `"`)
		done := httpDevice(t, p.e, "DELETE", "/devices/"+p.id+"/messages/deviceBound/"+etag+"?api-version=2021-04-12", p.token, nil)
		require.Equal(t, 204, done.Status, string(done.Body))
		return string(r.Body)
	}
	t.Fatal("no C2D message over HTTPS")
	return ""
}
