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

	// A reply-to nobody listens on is refused.
	err = snd.Send(ctx, &amqp.Message{Properties: &amqp.MessageProperties{MessageID: "req-4", ReplyTo: ptr("nobody")}}, nil)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.ErrCond(CondPreconditionFailed), ae.Condition)
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
