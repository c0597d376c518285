package emulator_test

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

func TestPurgeCommandsWire(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	s := amqpSession(t, h.e, nil)
	require.Equal(t, int32(200), putToken(t, s, h.token("service"), h.e.HostName()))
	sendC2D(t, s, "/devices/d1/messages/devicebound", 3)

	dev := h.do("GET", "/devices/d1", "").object(t)
	assert.EqualValues(t, 3, dev["cloudToDeviceMessageCount"])

	r := h.doAs("service", "DELETE", "/devices/d1/commands", "")
	require.Equal(t, 200, r.Status, "%s", r.Body)
	assert.Equal(t, map[string]any{"totalMessagesPurged": 3.0, "deviceId": "d1", "moduleId": nil}, r.object(t))
	dev = h.do("GET", "/devices/d1", "").object(t)
	assert.EqualValues(t, 0, dev["cloudToDeviceMessageCount"])

	r = h.do("DELETE", "/devices/ghost/commands", "")
	assert.Equal(t, 404, r.Status)
	assert.Equal(t, "DeviceNotFound", r.Header.Get("iothub-errorcode"))
	r = h.doAs("registryRead", "DELETE", "/devices/d1/commands", "")
	assert.Equal(t, 401, r.Status)
}

// sendC2D sends n messages to the devicebound address to.
func sendC2D(t *testing.T, s *amqp.Session, to string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snd, err := s.NewSender(ctx, "/messages/devicebound", nil)
	require.NoError(t, err)
	defer snd.Close(ctx)
	for range n {
		require.NoError(t, snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("x")}, Properties: &amqp.MessageProperties{To: &to}}, nil))
	}
}

func TestSimulatedDeviceC2D(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	d, err := h.e.Device("d1")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = d.ReceiveC2D(ctx)
	require.ErrorIs(t, err, emulator.ErrNotConnected)
	require.ErrorIs(t, d.SendTelemetry(ctx, []byte("x"), nil), emulator.ErrNotConnected)
	require.ErrorIs(t, d.UploadFile(ctx, "f", []byte("x")), emulator.ErrNotConnected)

	require.NoError(t, d.Connect(ctx))
	s := amqpSession(t, h.e, nil)
	require.Equal(t, int32(200), putToken(t, s, h.token("service"), h.e.HostName()))
	sendC2D(t, s, "/devices/d1/messages/devicebound", 2)
	m, err := d.ReceiveC2D(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, m.DeliveryCount)
	require.NoError(t, m.Abandon(ctx))
	require.ErrorIs(t, m.Complete(ctx), emulator.ErrMessageSettled)
	m, err = d.ReceiveC2D(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, m.DeliveryCount, "an abandoned message comes back")
	require.NoError(t, m.Reject(ctx))
	m, err = d.ReceiveC2D(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Complete(ctx))
	assert.Zero(t, h.e.C2DQueueDepth("d1", ""))

	// Disconnecting ends a wait for the next message.
	done := make(chan error, 1)
	go func() { _, err := d.ReceiveC2D(context.Background()); done <- err }()
	d.Disconnect()
	assert.ErrorIs(t, <-done, emulator.ErrNotConnected)
	require.ErrorIs(t, d.UploadFile(ctx, "f", []byte("x")), emulator.ErrNotConnected)
}
