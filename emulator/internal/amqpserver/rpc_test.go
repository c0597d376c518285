package amqpserver

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type cbsKey struct{}

// cbsNode mimics $cbs: put-token stores the token on the connection.
func cbsNode() *Node {
	return NewRequestResponseNode(func(ctx context.Context, req *Request) (*amqp.Message, error) {
		if req.Message.ApplicationProperties["operation"] != "put-token" {
			return nil, &Error{Condition: CondNotImplemented, Description: "unknown operation"}
		}
		token, _ := req.Message.Value.(string)
		req.Conn.SetValue(cbsKey{}, token)
		req.Conn.SetIdentity(Identity{Mechanism: "CBS", Name: "iothubowner"})
		return &amqp.Message{ApplicationProperties: map[string]any{"status-code": int32(200)}}, nil
	})
}

func TestRequestResponseNode(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	require.NoError(t, ts.Handle("$cbs", cbsNode()))
	whoami := make(chan *Conn, 1)
	require.NoError(t, ts.Handle("check", &Node{Outgoing: func(l *OutgoingLink) error {
		whoami <- l.Conn()
		return nil
	}}))
	ctx := testCtx(t)
	s := ts.session(t, nil)

	snd, err := s.NewSender(ctx, "$cbs", nil)
	require.NoError(t, err)
	rcv, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: "cbs-reply-1"})
	require.NoError(t, err)

	for i, id := range []any{"req-1", uint64(2)} {
		req := &amqp.Message{
			Properties:            &amqp.MessageProperties{MessageID: id, ReplyTo: ptr("cbs-reply-1")},
			ApplicationProperties: map[string]any{"operation": "put-token"},
			Value:                 "SharedAccessSignature sr=x",
		}
		require.NoError(t, snd.Send(ctx, req, nil), "request %d", i)
		resp, err := rcv.Receive(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, rcv.AcceptMessage(ctx, resp))
		assert.Equal(t, id, resp.Properties.CorrelationID)
		assert.Equal(t, "cbs-reply-1", *resp.Properties.To)
		assert.Equal(t, int32(200), resp.ApplicationProperties["status-code"])
	}

	_, err = s.NewReceiver(ctx, "check", nil)
	require.NoError(t, err)
	c := <-whoami
	assert.Equal(t, "SharedAccessSignature sr=x", c.Value(cbsKey{}))
	assert.Equal(t, "CBS", c.Identity().Mechanism)

	// An unknown operation rejects the request.
	err = snd.Send(ctx, &amqp.Message{
		Properties:            &amqp.MessageProperties{MessageID: "req-3", ReplyTo: ptr("cbs-reply-1")},
		ApplicationProperties: map[string]any{"operation": "delete-token"},
	}, nil)
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.ErrCond(CondNotImplemented), ae.Condition)

	// A connection with no receiver on the node cannot get an answer: the
	// request is refused.
	lone := ts.session(t, nil)
	snd4, err := lone.NewSender(ctx, "$cbs", nil)
	require.NoError(t, err)
	err = snd4.Send(ctx, &amqp.Message{Properties: &amqp.MessageProperties{MessageID: "req-4", ReplyTo: ptr("nobody")}}, nil)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.ErrCond(CondPreconditionFailed), ae.Condition)
}

// TestRequestResponseReplyRouting sends requests the ways the official
// clients do and checks which receiver gets each answer.
func TestRequestResponseReplyRouting(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	require.NoError(t, ts.Handle("$cbs", cbsNode()))
	ctx := testCtx(t)

	roundTrip := func(t *testing.T, snd *amqp.Sender, replyTo string, want *amqp.Receiver, others ...*amqp.Receiver) {
		t.Helper()
		id := "req-" + replyTo
		msg := &amqp.Message{
			Properties:            &amqp.MessageProperties{MessageID: id},
			ApplicationProperties: map[string]any{"operation": "put-token"},
			Value:                 "token",
		}
		if replyTo != "" {
			msg.Properties.ReplyTo = ptr(replyTo)
		}
		require.NoError(t, snd.Send(ctx, msg, nil))
		resp, err := want.Receive(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, want.AcceptMessage(ctx, resp))
		assert.Equal(t, id, resp.Properties.CorrelationID)
		for _, o := range others {
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			stray, err := o.Receive(short, nil)
			cancel()
			assert.Nil(t, stray, "another receiver got the answer")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		}
	}

	t.Run("azure-iot: no target, reply-to cbs", func(t *testing.T) {
		s := ts.session(t, nil)
		snd, err := s.NewSender(ctx, "$cbs", nil)
		require.NoError(t, err)
		rcv, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{Name: "receiver-link-7f3a"})
		require.NoError(t, err)
		roundTrip(t, snd, "cbs", rcv)
	})
	t.Run("core-amqp: no target, reply-to is the link name", func(t *testing.T) {
		conn := ts.dial(t, nil)
		s1, err := conn.NewSession(ctx, nil)
		require.NoError(t, err)
		s2, err := conn.NewSession(ctx, nil)
		require.NoError(t, err)
		// Two receivers on one session: the name picks one.
		snd, err := s1.NewSender(ctx, "$cbs", nil)
		require.NoError(t, err)
		mine, err := s1.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{Name: "cbs-1b2c"})
		require.NoError(t, err)
		other, err := s2.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{Name: "cbs-9d8e"})
		require.NoError(t, err)
		roundTrip(t, snd, "cbs-1b2c", mine, other)
		roundTrip(t, snd, "cbs-9d8e", other, mine)
	})
	t.Run("target address wins over link name", func(t *testing.T) {
		s := ts.session(t, nil)
		snd, err := s.NewSender(ctx, "$cbs", nil)
		require.NoError(t, err)
		byName, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{Name: "reply-a"})
		require.NoError(t, err)
		byTarget, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{Name: "other", TargetAddress: "reply-a"})
		require.NoError(t, err)
		roundTrip(t, snd, "reply-a", byTarget, byName)
	})
	t.Run("no match: the requesting session's receiver", func(t *testing.T) {
		conn := ts.dial(t, nil)
		s1, err := conn.NewSession(ctx, nil)
		require.NoError(t, err)
		s2, err := conn.NewSession(ctx, nil)
		require.NoError(t, err)
		rcv1, err := s1.NewReceiver(ctx, "$cbs", nil)
		require.NoError(t, err)
		rcv2, err := s2.NewReceiver(ctx, "$cbs", nil)
		require.NoError(t, err)
		snd1, err := s1.NewSender(ctx, "$cbs", nil)
		require.NoError(t, err)
		roundTrip(t, snd1, "somewhere", rcv1, rcv2)
		roundTrip(t, snd1, "", rcv1, rcv2)
	})
	t.Run("a detached receiver is forgotten", func(t *testing.T) {
		s := ts.session(t, nil)
		snd, err := s.NewSender(ctx, "$cbs", nil)
		require.NoError(t, err)
		first, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: "r1"})
		require.NoError(t, err)
		second, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: "r2"})
		require.NoError(t, err)
		require.NoError(t, second.Close(ctx))
		roundTrip(t, snd, "r2", first)
	})
}

func TestConnCloseFault(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	lc := newLinkCatcher()
	require.NoError(t, ts.Handle("n", lc.node()))
	ctx := testCtx(t)
	conn := ts.dial(t, nil)
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	_, err = s.NewReceiver(ctx, "n", nil)
	require.NoError(t, err)
	out := <-lc.out
	out.Conn().Close(&Error{Condition: CondConnectionForced, Description: "fault injected"})
	<-conn.Done()
	var ce *amqp.ConnError
	require.ErrorAs(t, conn.Err(), &ce)
	require.NotNil(t, ce.RemoteErr)
	assert.Equal(t, amqp.ErrCond(CondConnectionForced), ce.RemoteErr.Condition)
	<-out.Context().Done()
}

func TestFrameHookFaults(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	q := newQueueNode()
	require.NoError(t, ts.Handle("q", q.node()))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	snd, err := s.NewSender(ctx, "q", nil)
	require.NoError(t, err)

	// Delay: the disposition for the send is held back.
	const delay = 150 * time.Millisecond
	ts.SetFrameHook(func(f FrameInfo) FrameAction {
		if f.Direction == Outbound && f.Performative == "disposition" {
			return FrameAction{Delay: delay}
		}
		return FrameAction{}
	})
	start := time.Now()
	require.NoError(t, snd.Send(ctx, amqp.NewMessage([]byte("slow")), nil))
	assert.GreaterOrEqual(t, time.Since(start), delay)

	// Stall: attach answers never come, so the client times out.
	ts.SetFrameHook(func(f FrameInfo) FrameAction {
		return FrameAction{Stall: f.Direction == Outbound && f.Performative == "attach"}
	})
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = s.NewReceiver(short, "q", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Drop inbound transfers: the sender's message is never handled.
	ts.SetFrameHook(nil)
	s2 := ts.session(t, nil)
	snd2, err := s2.NewSender(ctx, "q", nil)
	require.NoError(t, err)
	ts.SetFrameHook(func(f FrameInfo) FrameAction {
		return FrameAction{Drop: f.Direction == Inbound && f.Performative == "transfer"}
	})
	short2, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	require.ErrorIs(t, snd2.Send(short2, amqp.NewMessage([]byte("lost")), nil), context.DeadlineExceeded)
	// The stalled connection is released when the server closes (cleanup).
}
