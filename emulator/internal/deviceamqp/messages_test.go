package deviceamqp

import (
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"

	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

func TestEventOf(t *testing.T) {
	t.Parallel()
	ct := "application/json"
	ev := eventOf(sessions.Key{DeviceID: "d", ModuleID: "m"}, &amqp.Message{
		Data:                  [][]byte{[]byte("a"), []byte("b")},
		Properties:            &amqp.MessageProperties{MessageID: amqp.UUID{1}, CorrelationID: uint64(7), ContentType: &ct},
		ApplicationProperties: map[string]any{"k": int64(1), creationTimeProperty: "from-props"},
		Annotations:           amqp.Annotations{creationTimeProperty: "from-annotations"},
	})
	assert.Equal(t, "ab", string(ev.Body))
	assert.Equal(t, "01000000-0000-0000-0000-000000000000", ev.MessageID)
	assert.Equal(t, "7", ev.CorrelationID)
	assert.Equal(t, ct, ev.ContentType)
	assert.Equal(t, "m", ev.ModuleID)
	assert.Equal(t, "from-props", ev.Properties[creationTimeProperty], "an application property wins over the annotation")
	assert.EqualValues(t, 1, ev.Properties["k"])

	ev = eventOf(sessions.Key{DeviceID: "d"}, &amqp.Message{Value: "text", Annotations: amqp.Annotations{creationTimeProperty: "t"}})
	assert.Equal(t, "text", string(ev.Body))
	assert.Equal(t, "t", ev.Properties[creationTimeProperty])
	assert.Nil(t, eventOf(sessions.Key{DeviceID: "d"}, &amqp.Message{}).Properties)
}

func TestC2DMessage(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	m := c2dMessage(&devicebound.Message{
		MessageID: "id", CorrelationID: "c", UserID: "u", To: "/devices/d/messages/devicebound",
		ContentType: "text/plain", Body: []byte("x"), Properties: map[string]string{"p": "v"},
		Ack: devicebound.AckFull, EnqueuedTime: now, ExpiryTime: now.Add(time.Hour), DeliveryCount: 3,
	})
	assert.Equal(t, "id", m.Properties.MessageID)
	assert.Equal(t, "c", m.Properties.CorrelationID)
	assert.Equal(t, []byte("u"), m.Properties.UserID)
	assert.Equal(t, "text/plain", *m.Properties.ContentType)
	assert.Nil(t, m.Properties.ContentEncoding)
	assert.Equal(t, now.Add(time.Hour), *m.Properties.AbsoluteExpiryTime)
	assert.EqualValues(t, 2, m.Header.DeliveryCount, "earlier attempts, not this one")
	assert.Equal(t, map[string]any{"p": "v", "iothub-ack": "full"}, m.ApplicationProperties)
	assert.Equal(t, now, m.Annotations["iothub-enqueuedtime"])

	bare := c2dMessage(&devicebound.Message{To: "/devices/d/messages/devicebound", Ack: devicebound.AckNone, DeliveryCount: 1})
	assert.Nil(t, bare.Properties.MessageID)
	assert.Nil(t, bare.Properties.CorrelationID)
	assert.Zero(t, bare.Header.DeliveryCount)
}

func TestStatusAndCorrelation(t *testing.T) {
	t.Parallel()
	for _, v := range []any{int32(201), int64(201), 201, int16(201), uint32(201), uint64(201), "201"} {
		n, ok := statusOf(v)
		assert.True(t, ok, "%T", v)
		assert.Equal(t, 201, n, "%T", v)
	}
	for _, v := range []any{nil, "x", 2.5, []byte("201")} {
		_, ok := statusOf(v)
		assert.False(t, ok, "%T", v)
	}
	u := amqp.UUID{0xAB, 1, 2, 3}
	assert.Equal(t, corrKey(u), corrKey(u.String()), "a uuid echoed as its text matches")
	assert.Equal(t, corrKey(u), corrKey(u[:]), "and as 16 bytes")
	assert.Equal(t, corrKey(u), corrKey(u.String()[:0]+"AB010203-0000-0000-0000-000000000000"), "case apart")
	assert.NotEqual(t, corrKey("1"), corrKey(u))
}
