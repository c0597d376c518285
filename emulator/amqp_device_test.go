package emulator_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

// amqpDevice is a device connection as the official SDKs open it: SASL
// ANONYMOUS, then the device's own SAS token on $cbs for
// {host}/devices/{id}.
func amqpDevice(t testing.TB, e *emulator.Emulator, id, key string) *amqp.Session {
	t.Helper()
	s := amqpSession(t, e, nil)
	deviceID, moduleID, _ := strings.Cut(id, "/modules/")
	audience := e.HostName() + "/devices/" + deviceID
	if moduleID != "" {
		audience += "/modules/" + moduleID
	}
	require.EqualValues(t, 200, putToken(t, s, deviceToken(t, e, id, key, time.Hour), audience))
	return s
}

func tctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// linkPair opens the sender and receiver of a method or twin channel, as
// the SDKs pair them: one com.microsoft:channel-correlation-id.
func linkPair(t *testing.T, s *amqp.Session, addr, channel string) (*amqp.Sender, *amqp.Receiver) {
	t.Helper()
	ctx := tctx(t)
	props := map[string]any{"com.microsoft:channel-correlation-id": channel, "com.microsoft:api-version": "2021-04-12"}
	snd, err := s.NewSender(ctx, addr, &amqp.SenderOptions{Properties: props, SettlementMode: amqp.SenderSettleModeSettled.Ptr()})
	require.NoError(t, err)
	rcv, err := s.NewReceiver(ctx, addr, &amqp.ReceiverOptions{Properties: props, Credit: 10})
	require.NoError(t, err)
	return snd, rcv
}

func TestAMQPDeviceTelemetry(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Modules: []string{"m1"}})
	s := amqpDevice(t, e, "d1", deviceKey)
	ctx := tctx(t)
	snd, err := s.NewSender(ctx, "/devices/d1/messages/events", nil)
	require.NoError(t, err)
	ct, ce := "application/json", "utf-8"
	require.NoError(t, snd.Send(ctx, &amqp.Message{
		Data:                  [][]byte{[]byte(`{"t":21.5}`)},
		Properties:            &amqp.MessageProperties{MessageID: "m-1", CorrelationID: "c-1", ContentType: &ct, ContentEncoding: &ce},
		ApplicationProperties: map[string]any{"alert": "high", "level": int32(3)},
		Annotations:           amqp.Annotations{"iothub-creation-time-utc": "2026-12-01T10:00:00Z"},
	}, nil))

	d, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	got, err := d.GetDevice(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, registry.Connected, got.ConnectionState, "a device with an AMQP link shows as Connected")

	// A module's telemetry, on a module token.
	ms := amqpDevice(t, e, "d1/modules/m1", moduleKey(t, e, "d1", "m1"))
	msnd, err := ms.NewSender(ctx, "/devices/d1/modules/m1/messages/events", nil)
	require.NoError(t, err)
	require.NoError(t, msnd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("from m1")}}, nil))

	evs := readEvents(t, e, 2)
	byDevice := map[string]int{}
	for i, ev := range evs {
		byDevice[ev.ModuleID] = i
	}
	ev := evs[byDevice[""]]
	assert.Equal(t, `{"t":21.5}`, string(ev.Body))
	assert.Equal(t, "m-1", ev.MessageID)
	assert.Equal(t, "c-1", ev.CorrelationID)
	assert.Equal(t, "application/json", ev.ContentType)
	assert.Equal(t, "high", ev.Properties["alert"])
	assert.EqualValues(t, 3, ev.Properties["level"])
	assert.Equal(t, "2026-12-01T10:00:00Z", ev.Properties["iothub-creation-time-utc"])
	assert.Equal(t, "d1", ev.DeviceID)
	assert.Equal(t, "from m1", string(evs[byDevice["m1"]].Body))

	// Larger than 256 KB: the link is detached.
	err = snd.Send(ctx, &amqp.Message{Data: [][]byte{make([]byte, 256*1024+1)}}, nil)
	require.Error(t, err)
	assert.Equal(t, amqp.ErrCondMessageSizeExceeded, condition(t, err))
}

func TestAMQPDeviceC2D(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	s := amqpDevice(t, e, "d1", deviceKey)
	ctx := tctx(t)
	rcv, err := s.NewReceiver(ctx, "/devices/d1/messages/devicebound", &amqp.ReceiverOptions{Credit: 10, SettlementMode: amqp.ReceiverSettleModeFirst.Ptr()})
	require.NoError(t, err)

	cc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	defer cc.Close(context.Background())
	for _, id := range []string{"accept", "reject", "release"} {
		require.NoError(t, cc.Send(ctx, "d1", &c2d.Message{Body: []byte(id), MessageID: id, CorrelationID: "k-" + id, Ack: c2d.AckFull, Properties: map[string]string{"color": "red"}}))
	}
	msgs := map[string]*amqp.Message{}
	for range 3 {
		m, err := rcv.Receive(ctx, nil)
		require.NoError(t, err)
		msgs[m.Properties.MessageID.(string)] = m
	}
	m := msgs["accept"]
	assert.Equal(t, "accept", string(m.GetData()))
	assert.Equal(t, "k-accept", m.Properties.CorrelationID)
	assert.Equal(t, "/devices/d1/messages/devicebound", *m.Properties.To)
	assert.Equal(t, "red", m.ApplicationProperties["color"])
	assert.Equal(t, "full", m.ApplicationProperties["iothub-ack"])
	assert.Len(t, m.DeliveryTag, 16, "the delivery-tag is the 16-byte lock token")
	assert.IsType(t, time.Time{}, m.Annotations["iothub-enqueuedtime"])
	assert.Zero(t, m.Header.DeliveryCount)

	require.NoError(t, rcv.AcceptMessage(ctx, m))
	require.NoError(t, rcv.RejectMessage(ctx, msgs["reject"], nil))
	require.NoError(t, rcv.ReleaseMessage(ctx, msgs["release"]))
	again, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "release", again.Properties.MessageID)
	assert.EqualValues(t, 1, again.Header.DeliveryCount, "an abandoned message comes back with one earlier attempt")
	// Modified with undeliverable-here rejects it.
	require.NoError(t, rcv.ModifyMessage(ctx, again, &amqp.ModifyMessageOptions{UndeliverableHere: true}))

	statuses := map[string]c2d.FeedbackStatus{}
	fctx, stop := context.WithCancel(ctx)
	_ = cc.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		for _, r := range b.Records {
			statuses[r.OriginalMessageID] = r.StatusCode
		}
		if len(statuses) == 3 {
			stop()
		}
		return nil
	})
	assert.Equal(t, map[string]c2d.FeedbackStatus{"accept": c2d.StatusSuccess, "reject": c2d.StatusRejected, "release": c2d.StatusRejected}, statuses)
	assert.Zero(t, e.C2DQueueDepth("d1", ""))
}

func TestAMQPDeviceC2DAbandonedOnDetach(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	s := amqpDevice(t, e, "d1", deviceKey)
	ctx := tctx(t)
	rcv, err := s.NewReceiver(ctx, "/devices/d1/messages/devicebound", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)
	cc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	defer cc.Close(context.Background())
	require.NoError(t, cc.Send(ctx, "d1", &c2d.Message{Body: []byte("x"), MessageID: "x"}))
	_, err = rcv.Receive(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, rcv.Close(ctx))

	rcv, err = s.NewReceiver(ctx, "/devices/d1/messages/devicebound", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)
	m, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "x", m.Properties.MessageID, "a message the device held when its link closed comes back")
	assert.EqualValues(t, 1, m.Header.DeliveryCount)
	require.NoError(t, rcv.AcceptMessage(ctx, m))
}

func TestAMQPDeviceMethods(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	s := amqpDevice(t, e, "d1", deviceKey)
	snd, rcv := linkPair(t, s, "/devices/d1/methods/devicebound", "methods:abc")
	go func() {
		ctx := context.Background()
		for {
			req, err := rcv.Receive(ctx, nil)
			if err != nil {
				return
			}
			_ = rcv.AcceptMessage(ctx, req)
			u, _ := req.Properties.CorrelationID.(amqp.UUID)
			name := req.ApplicationProperties["IoThub-methodname"]
			// The Node SDK answers with the uuid's string form.
			_ = snd.Send(ctx, &amqp.Message{
				Data:                  [][]byte{[]byte(`{"method":"` + name.(string) + `","got":` + string(req.GetData()) + `}`)},
				Properties:            &amqp.MessageProperties{CorrelationID: u.String()},
				ApplicationProperties: map[string]any{"IoThub-status": int32(201)},
			}, nil)
		}
	}()
	mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	ctx := tctx(t)
	resp, err := mc.Invoke(ctx, "d1", &methods.Request{MethodName: "reboot", Payload: json.RawMessage(`{"delay":5}`), ResponseTimeout: 5 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 201, resp.Status)
	assert.JSONEq(t, `{"method":"reboot","got":{"delay":5}}`, string(resp.Payload))

	require.NoError(t, rcv.Close(ctx))
	_, err = mc.Invoke(ctx, "d1", &methods.Request{MethodName: "reboot", ResponseTimeout: 5 * time.Second})
	require.ErrorIs(t, err, iothub.ErrDeviceNotOnline, "without its receiver the device takes no methods")
}

func TestAMQPDeviceMethodTimeout(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	s := amqpDevice(t, e, "d1", deviceKey)
	_, _ = linkPair(t, s, "/devices/d1/methods/devicebound", "methods:silent")
	mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	_, err = mc.Invoke(tctx(t), "d1", &methods.Request{MethodName: "m", ResponseTimeout: 5 * time.Second})
	require.ErrorIs(t, err, iothub.ErrTimeout)
}

// twinRequest sends one twin request and returns the answer.
func twinRequest(t *testing.T, snd *amqp.Sender, rcv *amqp.Receiver, op, resource, corr string, body []byte) *amqp.Message {
	t.Helper()
	ctx := tctx(t)
	ann := amqp.Annotations{"operation": op}
	if resource != "" {
		ann["resource"] = resource
	}
	msg := &amqp.Message{Annotations: ann, Properties: &amqp.MessageProperties{CorrelationID: corr}}
	if body != nil {
		msg.Data = [][]byte{body}
	}
	require.NoError(t, snd.Send(ctx, msg, nil))
	for {
		m, err := rcv.Receive(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, rcv.AcceptMessage(ctx, m))
		if m.Properties != nil && m.Properties.CorrelationID == corr {
			return m
		}
	}
}

func TestAMQPDeviceTwin(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Desired: map[string]any{"interval": 30}})
	s := amqpDevice(t, e, "d1", deviceKey)
	snd, rcv := linkPair(t, s, "/devices/d1/twin", "twin:abc")

	r := twinRequest(t, snd, rcv, "GET", "", "1", []byte(" "))
	assert.EqualValues(t, 200, r.Annotations["status"])
	var tw map[string]map[string]any
	require.NoError(t, json.Unmarshal(r.GetData(), &tw))
	assert.EqualValues(t, 30, tw["desired"]["interval"])
	assert.NotContains(t, tw["desired"], "$metadata")

	r = twinRequest(t, snd, rcv, "PATCH", "/properties/reported", "2", []byte(`{"firmware":"2.0"}`))
	assert.EqualValues(t, 204, r.Annotations["status"])
	assert.EqualValues(t, 2, r.Annotations["version"])
	r = twinRequest(t, snd, rcv, "PATCH", "/properties/reported", "3", []byte(`[1]`))
	assert.EqualValues(t, 400, r.Annotations["status"])
	var fail map[string]any
	require.NoError(t, json.Unmarshal(r.GetData(), &fail), "error bodies are JSON: the Node SDK parses them")
	assert.EqualValues(t, iothub.CodeArgumentInvalid, fail["errorCode"])
	r = twinRequest(t, snd, rcv, "POST", "/whatever", "4", nil)
	assert.EqualValues(t, 400, r.Annotations["status"])

	r = twinRequest(t, snd, rcv, "PUT", "/notifications/twin/properties/desired", "5", []byte(" "))
	assert.EqualValues(t, 204, r.Annotations["status"])
	tc, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	ctx := tctx(t)
	got, err := tc.Get(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, "2.0", got.Properties.Reported["firmware"])
	_, err = tc.Update(ctx, "d1", &twin.Patch{Desired: map[string]any{"interval": 60}})
	require.NoError(t, err)
	m, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Nil(t, m.Properties, "a desired update has no correlation-id")
	assert.JSONEq(t, `{"interval":60,"$version":3}`, string(m.GetData()))

	// After DELETE, updates stop.
	r = twinRequest(t, snd, rcv, "DELETE", "/notifications/twin/properties/desired", "6", []byte(" "))
	assert.EqualValues(t, 204, r.Annotations["status"])
	_, err = tc.Update(ctx, "d1", &twin.Patch{Desired: map[string]any{"interval": 90}})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = rcv.Receive(short, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestAMQPDeviceAuth(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"}, emulator.DeviceSeed{DeviceID: "d2"}, emulator.DeviceSeed{DeviceID: "off", Disabled: true})
	ctx := tctx(t)
	attach := func(s *amqp.Session, addr string) error {
		snd, err := s.NewSender(ctx, addr, nil)
		if err != nil {
			return err
		}
		return snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("x")}}, nil)
	}

	// No token at all.
	s := amqpSession(t, e, nil)
	err := attach(s, "/devices/d1/messages/events")
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))

	// d2's token does not cover d1.
	s = amqpDevice(t, e, "d2", deviceKey)
	err = attach(s, "/devices/d1/messages/events")
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))
	require.NoError(t, attach(s, "/devices/d2/messages/events"))

	// A wrong key, and an expired token, are refused at put-token.
	s = amqpSession(t, e, nil)
	assert.EqualValues(t, 401, putToken(t, s, deviceToken(t, e, "d1", "d3Jvbmcta2V5", time.Hour), e.HostName()+"/devices/d1"))
	assert.EqualValues(t, 401, putToken(t, s, deviceToken(t, e, "d1", deviceKey, -time.Minute), e.HostName()+"/devices/d1"))

	// A service policy (ServiceConnect, no DeviceConnect) may not act as a device.
	s = amqpSession(t, e, nil)
	require.EqualValues(t, 200, putToken(t, s, sign(t, e.HostName(), "service", policyKey(e, "service"), time.Hour), e.HostName()))
	err = attach(s, "/devices/d1/messages/events")
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))
	// A policy with DeviceConnect may.
	s = amqpSession(t, e, nil)
	require.EqualValues(t, 200, putToken(t, s, sign(t, e.HostName(), "device", policyKey(e, "device"), time.Hour), e.HostName()))
	require.NoError(t, attach(s, "/devices/d1/messages/events"))

	// A disabled device, and one that does not exist.
	s = amqpDevice(t, e, "off", deviceKey)
	err = attach(s, "/devices/off/messages/events")
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))
	assert.Contains(t, err.Error(), "disabled")
	s = amqpSession(t, e, nil)
	require.EqualValues(t, 200, putToken(t, s, sign(t, e.HostName(), "device", policyKey(e, "device"), time.Hour), e.HostName()))
	err = attach(s, "/devices/ghost/messages/events")
	assert.Equal(t, amqp.ErrCondNotFound, condition(t, err))
	assert.NotContains(t, err.Error(), policyKey(e, "device"))
}

func TestAMQPDeviceSASLPlain(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Modules: []string{"m1"}})
	ctx := tctx(t)
	s := amqpSession(t, e, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("d1@sas."+e.HubName(), deviceToken(t, e, "d1", deviceKey, time.Hour))})
	snd, err := s.NewSender(ctx, "/devices/d1/messages/events", nil)
	require.NoError(t, err)
	require.NoError(t, snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("plain")}}, nil))
	_, err = s.NewSender(ctx, "/devices/d2/messages/events", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err), "the SASL identity covers d1 only")

	ms := amqpSession(t, e, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("d1/m1@sas."+e.HubName(), deviceToken(t, e, "d1/modules/m1", moduleKey(t, e, "d1", "m1"), time.Hour))})
	msnd, err := ms.NewSender(ctx, "/devices/d1/modules/m1/messages/events", nil)
	require.NoError(t, err)
	require.NoError(t, msnd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("module")}}, nil))
	readEvents(t, e, 2)

	_, err = amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("d1@sas."+e.HubName(), deviceToken(t, e, "d1", "d3Jvbmcta2V5", time.Hour))})
	require.Error(t, err, "a token with the wrong key fails SASL")
}

func TestAMQPDeviceTakeover(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	ctx := tctx(t)
	first := amqpDevice(t, e, "d1", deviceKey)
	rcv, err := first.NewReceiver(ctx, "/devices/d1/messages/devicebound", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)

	second := amqpDevice(t, e, "d1", deviceKey)
	snd, err := second.NewSender(ctx, "/devices/d1/messages/events", nil)
	require.NoError(t, err)
	_, err = rcv.Receive(ctx, nil)
	assert.Equal(t, amqp.ErrCondStolen, condition(t, err), "a new connection of the same device takes over")
	require.NoError(t, snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("x")}}, nil))

	rc, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	require.NoError(t, snd.Close(ctx))
	assert.Eventually(t, func() bool {
		d, err := rc.GetDevice(ctx, "d1")
		return err == nil && d.ConnectionState == registry.Disconnected
	}, 5*time.Second, 20*time.Millisecond, "closing its last link disconnects the device")

	// Disabling the device detaches its links.
	third := amqpDevice(t, e, "d1", deviceKey)
	rcv, err = third.NewReceiver(ctx, "/devices/d1/messages/devicebound", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)
	d, err := rc.GetDevice(ctx, "d1")
	require.NoError(t, err)
	d.Status = registry.StatusDisabled
	_, err = rc.UpdateDevice(ctx, d)
	require.NoError(t, err)
	_, err = rcv.Receive(ctx, nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))
}

func TestAMQPDeviceTokenExpiry(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1"})
	e.LimitTokenLifetime(400 * time.Millisecond)
	s := amqpDevice(t, e, "d1", deviceKey)
	ctx := tctx(t)
	rcv, err := s.NewReceiver(ctx, "/devices/d1/messages/devicebound", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)
	_, err = rcv.Receive(ctx, nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err), "a device link whose token lapses is detached")
	rc, err := registry.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		d, err := rc.GetDevice(ctx, "d1")
		return err == nil && d.ConnectionState == registry.Disconnected
	}, 5*time.Second, 20*time.Millisecond, "and the device, with no link left, is disconnected")
}

func TestAMQPModuleMethodsAndTwin(t *testing.T) {
	t.Parallel()
	e := mqttHub(t, emulator.DeviceSeed{DeviceID: "d1", Modules: []string{"m1"}})
	s := amqpDevice(t, e, "d1/modules/m1", moduleKey(t, e, "d1", "m1"))
	msnd, mrcv := linkPair(t, s, "/devices/d1/modules/m1/methods/devicebound", "methods:m")
	go func() {
		ctx := context.Background()
		req, err := mrcv.Receive(ctx, nil)
		if err != nil {
			return
		}
		_ = mrcv.AcceptMessage(ctx, req)
		_ = msnd.Send(ctx, &amqp.Message{
			Data:                  [][]byte{[]byte(`"module says hi"`)},
			Properties:            &amqp.MessageProperties{CorrelationID: req.Properties.CorrelationID},
			ApplicationProperties: map[string]any{"IoThub-status": int32(200)},
		}, nil)
	}()
	mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	ctx := tctx(t)
	resp, err := mc.InvokeModule(ctx, "d1", "m1", &methods.Request{MethodName: "hi", ResponseTimeout: 5 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.JSONEq(t, `"module says hi"`, string(resp.Payload))

	tsnd, trcv := linkPair(t, s, "/devices/d1/modules/m1/twin", "twin:m")
	r := twinRequest(t, tsnd, trcv, "PATCH", "/properties/reported", "1", []byte(`{"role":"filter"}`))
	assert.EqualValues(t, 204, r.Annotations["status"])
	tc, err := twin.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	mt, err := tc.GetModule(ctx, "d1", "m1")
	require.NoError(t, err)
	assert.Equal(t, "filter", mt.Properties.Reported["role"])

	// The module's C2D queue.
	cc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	defer cc.Close(context.Background())
	require.NoError(t, cc.SendToModule(ctx, "d1", "m1", &c2d.Message{Body: []byte("to m1")}))
	crcv, err := s.NewReceiver(ctx, "/devices/d1/modules/m1/messages/devicebound", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)
	m, err := crcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "to m1", string(m.GetData()))
	require.NoError(t, crcv.AcceptMessage(ctx, m))
}

// TestAMQPDeviceX509 connects a selfSigned device as the Node SDK's Amqp
// transport does: a TLS client certificate and no token at all; another
// device's links, and a certificate of no device, are refused.
func TestAMQPDeviceX509(t *testing.T) {
	t.Parallel()
	e, reg := x509Hub(t)
	ctx := tctx(t)
	cert, sha1Hex, _ := deviceCert(t, "x509-amqp", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	_, err := reg.CreateDevice(ctx, &registry.Device{DeviceID: "x509-amqp", Authentication: &registry.Authentication{
		Type: registry.AuthSelfSigned, X509Thumbprint: &registry.X509Thumbprint{PrimaryThumbprint: sha1Hex}}})
	require.NoError(t, err)

	dial := func(certs []tls.Certificate) *amqp.Session {
		cfg := e.TLSConfig()
		cfg.Certificates = certs
		conn, err := amqp.Dial(ctx, "amqps://"+e.HostName(), &amqp.ConnOptions{TLSConfig: cfg, SASLType: amqp.SASLTypeAnonymous()})
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		s, err := conn.NewSession(ctx, nil)
		require.NoError(t, err)
		return s
	}
	s := dial([]tls.Certificate{cert})
	snd, err := s.NewSender(ctx, "/devices/x509-amqp/messages/events", nil)
	require.NoError(t, err)
	require.NoError(t, snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("by certificate")}}, nil))
	_, err = s.NewSender(ctx, "/devices/sas-device/messages/events", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err), "the certificate is x509-amqp's only")

	other, _, _ := deviceCert(t, "nobody", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	_, err = dial([]tls.Certificate{other}).NewSender(ctx, "/devices/x509-amqp/messages/events", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))
}
