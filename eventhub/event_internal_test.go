package eventhub

import (
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewEventKeepsWireTypes(t *testing.T) {
	uuid := amqp.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	now := time.UnixMilli(1_700_000_000_000).UTC()
	ct, ce := "application/json", "utf-8"
	m := &amqp.Message{
		Data: [][]byte{[]byte("ab"), []byte("cd")},
		Properties: &amqp.MessageProperties{
			MessageID: uuid, CorrelationID: uint64(42), ContentType: &ct, ContentEncoding: &ce,
			UserID: []byte{0xff, 0x00}, CreationTime: &now,
		},
		ApplicationProperties: map[string]any{
			"s": "x", "i": int64(-3), "u": uint8(7), "f": 1.5, "b": true, "t": now, "bin": []byte{0xff},
			"uuid": uuid, "list": []any{int32(1), "two"}, "map": map[string]any{"k": int16(1)}, "nil": nil,
		},
		Annotations: amqp.Annotations{
			"x-opt-offset": int64(12345), "x-opt-sequence-number": int32(9), "x-opt-enqueued-time": now,
			"iothub-connection-device-id": "d1", int64(77): "numeric key",
		},
	}
	data, err := m.MarshalBinary()
	require.NoError(t, err)
	var got amqp.Message
	require.NoError(t, got.UnmarshalBinary(data))
	ev := newEvent(&got, "3")
	assert.Equal(t, "abcd", string(ev.Body))
	assert.Equal(t, uuid.String(), ev.MessageID)
	assert.Equal(t, "42", ev.CorrelationID)
	assert.Equal(t, uuid, ev.SystemProperties()["message-id"])
	assert.Equal(t, uint64(42), ev.SystemProperties()["correlation-id"])
	assert.Equal(t, "12345", ev.Offset)
	assert.Equal(t, int64(9), ev.SequenceNumber)
	assert.True(t, now.Equal(ev.EnqueuedTime))
	assert.Equal(t, "d1", ev.DeviceID)
	assert.Equal(t, "numeric key", ev.SystemProperties()["77"])
	sp := ev.SystemProperties()
	assert.Equal(t, map[string]any{
		"x-opt-offset": int64(12345), "x-opt-sequence-number": int32(9), "x-opt-enqueued-time": now,
		"iothub-connection-device-id": "d1", "77": "numeric key",
		"message-id": uuid, "correlation-id": uint64(42), "content-type": ct, "content-encoding": ce,
		"user-id": []byte{0xff, 0x00}, "creation-time": now,
	}, normalizeTimes(sp))
	sp["x-opt-offset"] = "changed"
	assert.Equal(t, int64(12345), ev.SystemProperties()["x-opt-offset"], "each call builds a new map")
	assert.Empty(t, (&Event{}).SystemProperties(), "an Event built by hand has none")
	assert.Equal(t, "3", ev.PartitionID)
	for k, v := range m.ApplicationProperties {
		if tv, ok := v.(time.Time); ok {
			assert.True(t, tv.Equal(ev.Properties[k].(time.Time)), k)
			continue
		}
		assert.Equal(t, v, ev.Properties[k], k)
	}

	// A body sent as an AMQP value of another type is kept as Value.
	m2 := &amqp.Message{Value: map[string]any{"t": 21.5}}
	data, err = m2.MarshalBinary()
	require.NoError(t, err)
	var got2 amqp.Message
	require.NoError(t, got2.UnmarshalBinary(data))
	ev = newEvent(&got2, "0")
	assert.Nil(t, ev.Body)
	assert.Equal(t, map[string]any{"t": 21.5}, ev.Value)
}

func TestLastEnqueuedOfWireTypes(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	for name, tc := range map[string]struct {
		da   amqp.Annotations
		want LastEnqueued
		ok   bool
	}{
		"none":              {nil, LastEnqueued{}, false},
		"no sequence":       {amqp.Annotations{deliveryLastOffset: "5"}, LastEnqueued{}, false},
		"unreadable number": {amqp.Annotations{deliveryLastSequenceNumber: "x"}, LastEnqueued{}, false},
		"service types": {amqp.Annotations{
			deliveryLastSequenceNumber: int64(12), deliveryLastOffset: "4096",
			deliveryLastEnqueuedTime: at, deliveryRuntimeInfoRetrievedAt: at.Add(time.Second),
		}, LastEnqueued{12, "4096", at, at.Add(time.Second)}, true},
		"narrow and text types": {amqp.Annotations{
			deliveryLastSequenceNumber: "12", deliveryLastOffset: int64(4096),
			deliveryLastEnqueuedTime: at.UnixMilli(), deliveryRuntimeInfoRetrievedAt: int64(0),
		}, LastEnqueued{12, "4096", at, time.UnixMilli(0).UTC()}, true},
		"int32": {amqp.Annotations{deliveryLastSequenceNumber: int32(3)}, LastEnqueued{SequenceNumber: 3}, true},
	} {
		got, ok := lastEnqueuedOf(&amqp.Message{DeliveryAnnotations: tc.da})
		assert.Equal(t, tc.ok, ok, name)
		assert.Equal(t, tc.want, got, name)
	}
	_, ok := lastEnqueuedOf(nil)
	assert.False(t, ok)
}

// FuzzNewEvent: whatever a peer sends that go-amqp decodes, newEvent
// decodes without panicking.
func FuzzNewEvent(f *testing.F) {
	for _, m := range []*amqp.Message{
		{Data: [][]byte{[]byte("x")}, Annotations: amqp.Annotations{"x-opt-offset": "1", "x-opt-sequence-number": int64(1)}},
		{Value: "text", Properties: &amqp.MessageProperties{MessageID: []byte{1, 2}}},
		{Sequence: [][]any{{int32(1)}}, ApplicationProperties: map[string]any{"a": []any{nil}}},
		{Data: [][]byte{nil}, DeliveryAnnotations: amqp.Annotations{deliveryLastSequenceNumber: int64(1), deliveryLastEnqueuedTime: int64(5)}},
	} {
		data, err := m.MarshalBinary()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m amqp.Message
		if !unmarshal(&m, data) {
			return
		}
		_ = newEvent(&m, "0").SystemProperties()
		_, _ = lastEnqueuedOf(&m)
	})
}

// unmarshal decodes a message, reporting go-amqp's own panics as a
// failure to decode: go-amqp v1.7.0 panics on message annotations whose key
// is a list or map (testdata/fuzz/FuzzNewEvent/a58d5b50c8692b45), before
// newEvent is reached.
func unmarshal(m *amqp.Message, data []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return m.UnmarshalBinary(data) == nil
}

// normalizeTimes puts every time.Time of m in UTC with no monotonic
// reading, so that assert.Equal compares instants.
func normalizeTimes(m map[string]any) map[string]any {
	for k, v := range m {
		if t, ok := v.(time.Time); ok {
			m[k] = t.UTC().Round(0)
		}
	}
	return m
}
