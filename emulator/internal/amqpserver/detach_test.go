package amqpserver

import (
	"errors"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func detachConditions() []*Error {
	return []*Error{
		RedirectError("myhub-ns.servicebus.windows.net", "127.0.0.1", 5671,
			"amqps://myhub-ns.servicebus.windows.net/myhub/ConsumerGroups/$Default/Partitions/0"),
		{Condition: CondLinkStolen, Description: "a receiver with a higher epoch attached"},
		{Condition: CondNotFound, Description: "no such device"},
		{Condition: CondUnauthorizedAccess, Description: "token lacks ServiceConnect"},
		{Condition: CondResourceLimitExceeded, Description: "too many receivers"},
		{Condition: CondLinkDetachForced, Description: "idle link"},
		{Condition: CondServerBusy, Description: "throttled", Info: map[string]any{"retry-after": int64(5)}},
	}
}

func assertRemoteErr(t *testing.T, want *Error, got *amqp.Error) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, amqp.ErrCond(want.Condition), got.Condition)
	assert.Equal(t, want.Description, got.Description)
	if len(want.Info) == 0 {
		assert.Empty(t, got.Info)
	} else {
		assert.Equal(t, want.Info, got.Info)
	}
}

func TestAttachRefused(t *testing.T) {
	t.Parallel()
	for _, cond := range detachConditions() {
		t.Run(cond.Condition, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, nil)
			require.NoError(t, ts.Handle("n", &Node{
				Incoming: func(*IncomingLink) (MessageHandler, error) { return nil, cond },
				Outgoing: func(*OutgoingLink) error { return cond },
			}))
			ctx := testCtx(t)
			s := ts.session(t, nil)

			// go-amqp reports a refused attach as the *amqp.Error itself.
			_, err := s.NewReceiver(ctx, "n", nil)
			var ae *amqp.Error
			require.ErrorAs(t, err, &ae)
			assertRemoteErr(t, cond, ae)

			_, err = s.NewSender(ctx, "n", nil)
			require.ErrorAs(t, err, &ae)
			assertRemoteErr(t, cond, ae)

			// The session survives refusals.
			_, err = s.NewReceiver(ctx, "missing", nil)
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, amqp.ErrCond(CondNotFound), ae.Condition)
		})
	}
}

func TestDetachAfterAttach(t *testing.T) {
	t.Parallel()
	for _, cond := range detachConditions() {
		t.Run(cond.Condition, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, nil)
			lc := newLinkCatcher()
			require.NoError(t, ts.Handle("n", lc.node()))
			ctx := testCtx(t)
			s := ts.session(t, nil)

			rcv, err := s.NewReceiver(ctx, "n", nil)
			require.NoError(t, err)
			out := <-lc.out
			require.NoError(t, out.Detach(cond))
			require.ErrorIs(t, out.Detach(cond), ErrLinkDetached)
			_, err = rcv.Receive(ctx, nil)
			var le *amqp.LinkError
			require.ErrorAs(t, err, &le)
			assertRemoteErr(t, cond, le.RemoteErr)
			<-out.Context().Done()
			_, err = out.Send(ctx, amqp.NewMessage(nil), nil)
			require.ErrorIs(t, err, ErrLinkDetached)

			snd, err := s.NewSender(ctx, "n", nil)
			require.NoError(t, err)
			in := <-lc.in
			require.NoError(t, in.Detach(cond))
			<-in.Context().Done()
			// The sender learns of the detach on its next operation.
			for err == nil {
				err = snd.Send(ctx, amqp.NewMessage([]byte("x")), nil)
			}
			require.ErrorAs(t, err, &le)
			assertRemoteErr(t, cond, le.RemoteErr)
		})
	}
}

func TestDetachLinksFault(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	lc := newLinkCatcher()
	require.NoError(t, ts.Handle("/partitions/{pid}", lc.node()))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	r0, err := s.NewReceiver(ctx, "partitions/0", nil)
	require.NoError(t, err)
	r1, err := s.NewReceiver(ctx, "partitions/1", nil)
	require.NoError(t, err)
	<-lc.out
	<-lc.out

	n := ts.DetachLinks(func(l *Link) bool { return l.Param("pid") == "0" }, &Error{Condition: CondLinkDetachForced})
	assert.Equal(t, 1, n)
	_, err = r0.Receive(ctx, nil)
	var le *amqp.LinkError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, amqp.ErrCond(CondLinkDetachForced), le.RemoteErr.Condition)
	require.NoError(t, r1.Close(ctx))
}

func TestClientDetachEndsLink(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	lc := newLinkCatcher()
	require.NoError(t, ts.Handle("n", lc.node()))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	rcv, err := s.NewReceiver(ctx, "n", &amqp.ReceiverOptions{Credit: 1})
	require.NoError(t, err)
	out := <-lc.out
	d, err := out.Send(ctx, amqp.NewMessage([]byte("never settled")), nil)
	require.NoError(t, err)
	require.NoError(t, rcv.Close(ctx))
	<-out.Context().Done()
	_, err = d.Wait(ctx)
	require.True(t, errors.Is(err, ErrLinkDetached), "unsettled deliveries fail when the link goes: %v", err)
	require.NoError(t, s.Close(ctx))
}

func TestDetachDuringAttach(t *testing.T) {
	t.Parallel()
	cond := &Error{Condition: CondLinkStolen, Description: "epoch 9 took over"}
	ts := newTestServer(t, nil)
	require.NoError(t, ts.Handle("n", &Node{
		Outgoing: func(l *OutgoingLink) error { return l.Detach(cond) },
		Incoming: func(l *IncomingLink) (MessageHandler, error) {
			return func(*Delivery) Outcome { return Accepted{} }, l.Detach(cond)
		},
	}))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	rcv, err := s.NewReceiver(ctx, "n", nil)
	require.NoError(t, err, "the attach itself succeeds")
	_, err = rcv.Receive(ctx, nil)
	var le *amqp.LinkError
	require.ErrorAs(t, err, &le)
	assertRemoteErr(t, cond, le.RemoteErr)

	snd, err := s.NewSender(ctx, "n", nil)
	require.NoError(t, err)
	for err == nil {
		err = snd.Send(ctx, amqp.NewMessage([]byte("x")), nil)
	}
	require.ErrorAs(t, err, &le)
	assertRemoteErr(t, cond, le.RemoteErr)
}
