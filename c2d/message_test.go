package c2d

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &Message{Body: []byte("on"), CorrelationID: "c1", UserID: "ops", ContentType: "text/plain", ContentEncoding: "utf-8",
		Ack: AckFull, ExpiryTime: exp, Properties: map[string]string{"color": "red"}}
	am, err := encode(m, address("a#b", ""))
	require.NoError(t, err)
	assert.NotEmpty(t, m.MessageID, "a message id is assigned and written back")
	assert.Equal(t, m.MessageID, am.Properties.MessageID)
	assert.Equal(t, "/devices/a%23b/messages/devicebound", *am.Properties.To)
	assert.Equal(t, "c1", am.Properties.CorrelationID)
	assert.Equal(t, []byte("ops"), am.Properties.UserID)
	assert.Equal(t, "text/plain", *am.Properties.ContentType)
	assert.Equal(t, "utf-8", *am.Properties.ContentEncoding)
	assert.Equal(t, exp, *am.Properties.AbsoluteExpiryTime)
	assert.Equal(t, map[string]any{"color": "red", "iothub-ack": "full"}, am.ApplicationProperties)
	assert.Equal(t, [][]byte{[]byte("on")}, am.Data)

	am, err = encode(&Message{MessageID: "mine"}, address("d", "m/1"))
	require.NoError(t, err)
	assert.Equal(t, "mine", am.Properties.MessageID)
	assert.Nil(t, am.ApplicationProperties, "no ack, no properties")
	assert.Equal(t, "/devices/d/modules/m%2F1/messages/devicebound", *am.Properties.To)
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		msg  *Message
		want error
	}{
		{"nil", nil, iothub.ErrArgumentInvalid},
		{"bad ack", &Message{Ack: "sometimes"}, iothub.ErrArgumentInvalid},
		{"empty property name", &Message{Properties: map[string]string{"": "x"}}, iothub.ErrArgumentInvalid},
		{"reserved property", &Message{Properties: map[string]string{"iothub-ack": "full"}}, iothub.ErrArgumentInvalid},
		{"non-ASCII name", &Message{Properties: map[string]string{"café": "x"}}, iothub.ErrArgumentInvalid},
		{"control char value", &Message{Properties: map[string]string{"k": "a\nb"}}, iothub.ErrArgumentInvalid},
		{"65 KB body", &Message{Body: make([]byte, 65*1024)}, iothub.ErrMessageTooLarge},
		{"64 KB body plus properties", &Message{Body: make([]byte, 64*1024-100), Properties: map[string]string{"k": strings.Repeat("v", 200)}}, iothub.ErrMessageTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := encode(tc.msg, address("d", ""))
			require.ErrorIs(t, err, tc.want)
		})
	}
	_, err := encode(&Message{Body: make([]byte, 63*1024)}, address("d", ""))
	require.NoError(t, err, "just under the limit")
}

func TestFeedbackStatusJSON(t *testing.T) {
	t.Parallel()
	cases := map[string]FeedbackStatus{
		`"Success"`: StatusSuccess, `"expired"`: StatusExpired, `"DeliveryCountExceeded"`: StatusDeliveryCountExceeded,
		`"Rejected"`: StatusRejected, `"Purged"`: StatusPurged, `0`: StatusSuccess, `3`: StatusRejected, `"4"`: StatusPurged,
	}
	for in, want := range cases {
		var s FeedbackStatus
		require.NoError(t, json.Unmarshal([]byte(in), &s), in)
		assert.Equal(t, want, s, in)
	}
	for _, bad := range []string{`"Nope"`, `9`, `-1`, `true`, `{}`} {
		var s FeedbackStatus
		assert.Error(t, json.Unmarshal([]byte(bad), &s), bad)
	}
	b, err := json.Marshal(StatusRejected)
	require.NoError(t, err)
	assert.Equal(t, `"Rejected"`, string(b))
	assert.Equal(t, "FeedbackStatus(9)", FeedbackStatus(9).String())
}

func TestDecodeFeedback(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	m := &amqp.Message{
		Data:        [][]byte{[]byte(`[{"OriginalMessageId":"m1","DeviceId":"d1","DeviceGenerationId":"g","EnqueuedTimeUtc":"2026-05-06T07:08:09.1234567Z","StatusCode":"Success","Description":"Success"},{"originalMessageId":"m2","statusCode":2}]`)},
		Annotations: amqp.Annotations{"x-opt-enqueued-time": now},
	}
	b, err := decodeFeedback(m)
	require.NoError(t, err)
	assert.Equal(t, now, b.EnqueuedTime)
	require.Len(t, b.Records, 2)
	assert.Equal(t, "m1", b.Records[0].OriginalMessageID, "keys are case-insensitive")
	assert.Equal(t, StatusSuccess, b.Records[0].StatusCode)
	assert.Equal(t, 123456700, b.Records[0].EnqueuedTime.Nanosecond())
	assert.Equal(t, StatusDeliveryCountExceeded, b.Records[1].StatusCode)

	_, err = decodeFeedback(&amqp.Message{Data: [][]byte{[]byte(`{"not":"an array"}`)}})
	require.Error(t, err)
}

func FuzzDecodeFeedback(f *testing.F) {
	f.Add([]byte(`[{"originalMessageId":"m","statusCode":"Success","enqueuedTimeUtc":"2026-01-01T00:00:00Z"}]`))
	f.Add([]byte(`[{"statusCode":4}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"statusCode":"x"}]`))
	f.Add([]byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := decodeFeedback(&amqp.Message{Data: [][]byte{body}})
		if err == nil {
			for _, r := range b.Records {
				_ = r.StatusCode.String()
			}
		}
	})
}

func TestOutcomeUnknownError(t *testing.T) {
	t.Parallel()
	cause := &amqp.LinkError{RemoteErr: &amqp.Error{Condition: amqp.ErrCondUnauthorizedAccess}}
	err := error(&OutcomeUnknownError{MessageID: "m1", To: "/devices/d/messages/devicebound", Cause: cause})
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.NotErrorIs(t, err, iothub.ErrUnauthorized, "not a refusal of the hub")
	var le *amqp.LinkError
	assert.ErrorAs(t, err, &le)
	assert.Contains(t, err.Error(), `"m1"`)
}
