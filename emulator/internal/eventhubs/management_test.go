package eventhubs

import (
	"errors"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mgmtClient speaks the $management request/response pattern the way
// azeventhubs does: a sender and a receiver whose target is the reply-to.
type mgmtClient struct {
	snd *amqp.Sender
	rcv *amqp.Receiver
	n   int
}

// newMgmtClient attaches to addr: "$management", where azeventhubs sends
// its requests, or "<entity>/$management".
func newMgmtClient(t *testing.T, s *amqp.Session, addr string) *mgmtClient {
	t.Helper()
	snd, err := s.NewSender(testCtx(t), addr, nil)
	require.NoError(t, err)
	rcv, err := s.NewReceiver(testCtx(t), addr, &amqp.ReceiverOptions{
		TargetAddress:             "management-reply",
		Credit:                    10,
		SettlementMode:            amqp.ReceiverSettleModeFirst.Ptr(),
		RequestedSenderSettleMode: amqp.SenderSettleModeSettled.Ptr(),
	})
	require.NoError(t, err)
	return &mgmtClient{snd: snd, rcv: rcv}
}

// read sends a READ request with the given application properties and
// returns the response's status code, description and body.
func (c *mgmtClient) read(t *testing.T, props map[string]any) (int32, string, map[string]any) {
	t.Helper()
	c.n++
	reply := "management-reply"
	props["operation"] = "READ"
	props["security_token"] = "SharedAccessSignature sr=x&sig=y&se=1&skn=z"
	req := &amqp.Message{
		Properties:            &amqp.MessageProperties{MessageID: "req-" + string(rune('a'+c.n)), ReplyTo: &reply},
		ApplicationProperties: props,
	}
	require.NoError(t, c.snd.Send(testCtx(t), req, nil))
	resp, err := c.rcv.Receive(testCtx(t), nil)
	require.NoError(t, err)
	require.Equal(t, req.Properties.MessageID, resp.Properties.CorrelationID)
	code, ok := resp.ApplicationProperties["status-code"].(int32)
	require.True(t, ok, "status-code is an int32, got %T", resp.ApplicationProperties["status-code"])
	desc, ok := resp.ApplicationProperties["status-description"].(string)
	require.True(t, ok, "status-description is a string")
	body, _ := resp.Value.(map[string]any)
	return code, desc, body
}

func TestManagementEventHub(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{Partitions: 3})
	created := e.clock.Now()
	s := e.session(t)
	for _, addr := range []string{"$management", "myhub/$management"} {
		c := newMgmtClient(t, s, addr)
		code, desc, body := c.read(t, map[string]any{"name": "myhub", "type": "com.microsoft:eventhub"})
		require.Equal(t, int32(200), code, desc)
		require.IsType(t, time.Time{}, body["created_at"])
		assert.True(t, created.Equal(body["created_at"].(time.Time)))
		delete(body, "created_at")
		assert.Equal(t, map[string]any{
			"name":                  "myhub",
			"type":                  "com.microsoft:eventhub",
			"partition_count":       int32(3),
			"partition_ids":         []string{"0", "1", "2"},
			"georeplication_factor": int32(1),
		}, body, addr)
	}
	c := newMgmtClient(t, s, "otherhub/$management")
	code, _, _ := c.read(t, map[string]any{"name": "myhub", "type": "com.microsoft:eventhub"})
	assert.Equal(t, int32(404), code, "the node's entity must match the request's")
}

func TestManagementPartition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := newMgmtClient(t, e.session(t), "myhub/$management")

	t.Run("empty", func(t *testing.T) {
		code, desc, body := c.read(t, map[string]any{"name": "myhub", "type": "com.microsoft:partition", "partition": "1"})
		require.Equal(t, int32(200), code, desc)
		assert.Equal(t, map[string]any{
			"name":                          "myhub",
			"type":                          "com.microsoft:partition",
			"partition":                     "1",
			"begin_sequence_number":         int64(0),
			"last_enqueued_sequence_number": int64(-1),
			"last_enqueued_offset":          "-1",
			"last_enqueued_time_utc":        time.Time{},
			"is_partition_empty":            true,
		}, normaliseTimes(body))
	})

	t.Run("with events", func(t *testing.T) {
		e.appendN(t, deviceFor(e.hub, "1"), 3)
		last := e.clock.Now().Add(-time.Second) // appendN advances after each event
		code, desc, body := c.read(t, map[string]any{"name": "MyHub", "type": "com.microsoft:partition", "partition": "1"})
		require.Equal(t, int32(200), code, desc)
		assert.Equal(t, int64(0), body["begin_sequence_number"])
		assert.Equal(t, int64(2), body["last_enqueued_sequence_number"])
		assert.Equal(t, false, body["is_partition_empty"])
		assert.True(t, last.Equal(body["last_enqueued_time_utc"].(time.Time)))
		off, ok := body["last_enqueued_offset"].(string)
		require.True(t, ok)
		assert.NotEqual(t, "0", off)
	})

	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			props map[string]any
			code  int32
		}{
			{"unknown partition", map[string]any{"name": "myhub", "type": "com.microsoft:partition", "partition": "9"}, 404},
			{"unknown entity", map[string]any{"name": "other", "type": "com.microsoft:eventhub"}, 404},
			{"unknown type", map[string]any{"name": "myhub", "type": "com.microsoft:consumergroup"}, 400},
		} {
			code, _, body := c.read(t, tt.props)
			assert.Equal(t, tt.code, code, tt.name)
			assert.Nil(t, body, tt.name)
		}
	})
}

func TestManagementAuthorize(t *testing.T) {
	t.Parallel()
	var seen []string
	e := newEnv(t, &Options{Authorize: func(_ *amqpserver.Conn, address string) error {
		seen = append(seen, address)
		return errors.New("the token does not grant ServiceConnect")
	}})
	s := e.session(t)
	for _, addr := range []string{"myhub/$management", "$management"} {
		c := newMgmtClient(t, s, addr)
		code, desc, _ := c.read(t, map[string]any{"name": "myhub", "type": "com.microsoft:eventhub"})
		assert.Equal(t, int32(401), code)
		assert.Equal(t, "the token does not grant ServiceConnect", desc)
	}
	assert.Equal(t, []string{"myhub/$management", "myhub/$management"}, seen)
}

// normaliseTimes strips the location decoding gives timestamps so maps compare.
func normaliseTimes(m map[string]any) map[string]any {
	for k, v := range m {
		if t, ok := v.(time.Time); ok {
			if t.Equal(time.Time{}) {
				m[k] = time.Time{}
			}
		}
	}
	return m
}
