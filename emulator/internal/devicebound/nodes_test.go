package devicebound

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// serve registers h's nodes on an AMQP server on a loopback port and
// returns a session of a go-amqp client connected to it.
func serve(t *testing.T, h *Hub, authorize func(*amqpserver.Link) error) *amqp.Session {
	t.Helper()
	srv := amqpserver.NewServer(nil)
	require.NoError(t, h.Register(srv, authorize))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); _ = srv.ServeConn(context.Background(), nc) }()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+ln.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(); ln.Close(); _ = srv.Close(); wg.Wait() })
	return s
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func c2dMessage(to, id string, body []byte, ack string) *amqp.Message {
	m := &amqp.Message{
		Data:       [][]byte{body},
		Properties: &amqp.MessageProperties{To: &to, MessageID: id},
	}
	if ack != "" {
		m.ApplicationProperties = map[string]any{"iothub-ack": ack, "color": "red"}
	}
	return m
}

func rejectedCondition(t *testing.T, err error) amqp.ErrCond {
	t.Helper()
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	return ae.Condition
}

func TestDeviceboundNode(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHub(t, Options{MaxDepth: 2})
	s := serve(t, h, nil)
	ctx := tctx(t)
	snd, err := s.NewSender(ctx, AddressDevicebound, nil)
	require.NoError(t, err)

	require.NoError(t, snd.Send(ctx, c2dMessage("/devices/d1/messages/devicebound", "m1", []byte("hello"), "full"), nil))
	m := receive(t, h, d1)
	assert.Equal(t, "m1", m.MessageID)
	assert.Equal(t, []byte("hello"), m.Body)
	assert.Equal(t, AckFull, m.Ack)
	assert.Equal(t, map[string]string{"color": "red"}, m.Properties)

	require.NoError(t, snd.Send(ctx, c2dMessage("/devices/d1/messages/devicebound", "m2", nil, ""), nil))
	assert.Equal(t, amqp.ErrCondResourceLimitExceeded,
		rejectedCondition(t, snd.Send(ctx, c2dMessage("/devices/d1/messages/devicebound", "m3", nil, ""), nil)), "the queue holds 2")
	assert.Equal(t, amqp.ErrCondNotFound,
		rejectedCondition(t, snd.Send(ctx, c2dMessage("/devices/ghost/messages/devicebound", "m4", nil, ""), nil)))
	assert.Equal(t, amqp.ErrCondNotFound,
		rejectedCondition(t, snd.Send(ctx, c2dMessage("/devices/d1/modules/ghost/messages/devicebound", "m5", nil, ""), nil)))
	assert.Equal(t, amqp.ErrCondMessageSizeExceeded,
		rejectedCondition(t, snd.Send(ctx, c2dMessage("/devices/d2/messages/devicebound", "m6", make([]byte, 65*1024), ""), nil)))
	assert.Equal(t, amqp.ErrCondInvalidField,
		rejectedCondition(t, snd.Send(ctx, c2dMessage("/nowhere", "m7", nil, ""), nil)))
	assert.Equal(t, amqp.ErrCondInvalidField,
		rejectedCondition(t, snd.Send(ctx, c2dMessage("/devices/d2/messages/devicebound", "m8", nil, "sometimes"), nil)))

	require.NoError(t, snd.Send(ctx, c2dMessage("/devices/d2/modules/m%2F1/messages/devicebound", "m9", nil, ""), nil))
	mod := receive(t, h, Key{DeviceID: "d2", ModuleID: "m/1"})
	assert.Equal(t, "m9", mod.MessageID)
}

func TestFeedbackNode(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHub(t, Options{FeedbackBatchSize: 2})
	s := serve(t, h, nil)
	ctx := tctx(t)
	for _, id := range []string{"a", "b"} {
		require.NoError(t, h.Enqueue(d1, &Message{MessageID: id, Ack: AckFull}, 1))
		m := receive(t, h, d1)
		require.NoError(t, h.Complete(d1, m.LockToken))
	}
	rcv, err := s.NewReceiver(ctx, AddressFeedback, nil)
	require.NoError(t, err)
	batch, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, FeedbackContentType, *batch.Properties.ContentType)
	var recs []Record
	require.NoError(t, json.Unmarshal(batch.GetData(), &recs))
	require.Len(t, recs, 2)
	assert.Equal(t, "a", recs[0].OriginalMessageID)

	// Released: the hub delivers the batch again.
	require.NoError(t, rcv.ReleaseMessage(ctx, batch))
	again, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, batch.GetData(), again.GetData())
	require.NoError(t, rcv.AcceptMessage(ctx, again))
	assert.Eventually(t, func() bool { return h.feedback.out.len() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestUnsettledBatchSurvivesLinkLoss(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHub(t, Options{FeedbackBatchSize: 1})
	s := serve(t, h, nil)
	ctx := tctx(t)
	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "z", Ack: AckPositive}, 1))
	m := receive(t, h, d1)
	require.NoError(t, h.Complete(d1, m.LockToken))

	rcv, err := s.NewReceiver(ctx, AddressFeedback, nil)
	require.NoError(t, err)
	_, err = rcv.Receive(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, rcv.Close(ctx)) // never settled

	rcv2, err := s.NewReceiver(ctx, AddressFeedback, nil)
	require.NoError(t, err)
	again, err := rcv2.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Contains(t, string(again.GetData()), `"originalMessageId":"z"`)
	require.NoError(t, rcv2.AcceptMessage(ctx, again))
}

func TestFileNotificationNode(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHub(t, Options{})
	s := serve(t, h, nil)
	ctx := tctx(t)
	modified := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600))
	require.NoError(t, h.NotifyFileUpload("d1", "d1/report.csv", "https://blob.example/c/d1/report.csv", 1234, modified))
	rcv, err := s.NewReceiver(ctx, AddressFileNotifications, nil)
	require.NoError(t, err)
	msg, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, FileNotificationContentType, *msg.Properties.ContentType)
	var n FileNotification
	require.NoError(t, json.Unmarshal(msg.GetData(), &n))
	assert.Equal(t, "d1", n.DeviceID)
	assert.Equal(t, "d1/report.csv", n.BlobName)
	assert.Equal(t, int64(1234), n.BlobSizeInBytes)
	assert.Equal(t, "2024-05-06T05:08:09Z", n.LastUpdatedTime, "the blob's time, in UTC")
	assert.NotEmpty(t, n.EnqueuedTimeUTC)
	require.NoError(t, rcv.AcceptMessage(ctx, msg))
}

func TestNodesAreAuthorized(t *testing.T) {
	t.Parallel()
	h, _, _ := newTestHub(t, Options{})
	s := serve(t, h, func(l *amqpserver.Link) error {
		if strings.Contains(l.Address(), "feedback") {
			return &amqpserver.Error{Condition: amqpserver.CondUnauthorizedAccess, Description: "no token"}
		}
		return nil
	})
	ctx := tctx(t)
	_, err := s.NewReceiver(ctx, AddressFeedback, nil)
	var ae *amqp.Error
	require.True(t, errors.As(err, &ae), "%v", err)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, ae.Condition)
	_, err = s.NewSender(ctx, AddressDevicebound, nil)
	require.NoError(t, err)
}
