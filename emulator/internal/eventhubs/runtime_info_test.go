package eventhubs

import (
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRuntimeInfo: a receiver that desires the runtime metric gets, with
// each event, the partition's last enqueued event in delivery annotations;
// one that does not gets none.
func TestRuntimeInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	dev := deviceFor(e.hub, "1")
	e.appendN(t, dev, 3)
	last := e.clock.Now().Add(-time.Second) // appendN advances after each event

	opts := receiverOpts("amqp.annotation.x-opt-offset > '-1'", nil, 10)
	opts.DesiredCapabilities = []string{RuntimeMetricCapability}
	r, err := e.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "1"), opts)
	require.NoError(t, err)
	var msgs []*amqp.Message
	for range 3 {
		m, err := r.Receive(testCtx(t), nil)
		require.NoError(t, err)
		msgs = append(msgs, m)
	}
	lastOffset := msgs[2].Annotations["x-opt-offset"]
	for i, m := range msgs {
		assert.Equal(t, []byte("event-"+string(rune('0'+i))), m.GetData(), "the event itself is intact")
		assert.Equal(t, int64(i), m.Annotations["x-opt-sequence-number"])
		da := m.DeliveryAnnotations
		assert.Equal(t, int64(2), da[annotationLastSequenceNumber])
		assert.Equal(t, lastOffset, da[annotationLastOffset])
		assert.True(t, last.Equal(da[annotationLastEnqueuedTime].(time.Time)), "%v", da[annotationLastEnqueuedTime])
		assert.True(t, e.clock.Now().Equal(da[annotationRetrievalTime].(time.Time)), "%v", da[annotationRetrievalTime])
	}

	plain, err := e.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "1"), receiverOpts("amqp.annotation.x-opt-offset > '-1'", nil, 10))
	require.NoError(t, err)
	m, err := plain.Receive(testCtx(t), nil)
	require.NoError(t, err)
	assert.Empty(t, m.DeliveryAnnotations)
}

// TestWithRuntimeInfoKeepsTheEvent: the delivery annotations go before the
// message annotations, whether the stored payload starts with them or
// with a header.
func TestWithRuntimeInfoKeepsTheEvent(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000).UTC()
	info := runtimeInfoSection(partitionInfo{lastSeq: 9, lastOffset: 900, lastTime: now.UnixMilli()}, now)
	require.NotNil(t, info)
	assert.Nil(t, runtimeInfoSection(partitionInfo{lastSeq: -1}, now), "an empty partition has no last event")

	stored, err := encodeEvent(&Event{DeviceID: "d", Body: []byte("x")}, 3, 300, now.UnixMilli())
	require.NoError(t, err)
	withHeader, err := (&amqp.Message{Header: &amqp.MessageHeader{Durable: true}, Annotations: amqp.Annotations{"k": "v"}, Data: [][]byte{[]byte("y")}}).MarshalBinary()
	require.NoError(t, err)
	for name, payload := range map[string][]byte{"stored": stored, "header": withHeader} {
		var m amqp.Message
		require.NoError(t, m.UnmarshalBinary(withRuntimeInfo(payload, info)), name)
		assert.Equal(t, int64(9), m.DeliveryAnnotations[annotationLastSequenceNumber], name)
		assert.Equal(t, "900", m.DeliveryAnnotations[annotationLastOffset], name)
		assert.NotEmpty(t, m.Annotations, name)
		assert.Len(t, m.Data, 1, name)
	}
	assert.Equal(t, []byte("not amqp"), withRuntimeInfo([]byte("not amqp"), info), "an undecodable payload goes out as it is")
}
