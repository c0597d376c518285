package amqpserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// linkCatcher is a node that hands each link it gets to the test.
type linkCatcher struct {
	out chan *OutgoingLink
	in  chan *IncomingLink
}

func newLinkCatcher() *linkCatcher {
	return &linkCatcher{out: make(chan *OutgoingLink, 200), in: make(chan *IncomingLink, 200)}
}

func (lc *linkCatcher) node() *Node {
	return &Node{
		Outgoing: func(l *OutgoingLink) error { lc.out <- l; return nil },
		Incoming: func(l *IncomingLink) (MessageHandler, error) {
			lc.in <- l
			return func(*Delivery) Outcome { return Accepted{} }, nil
		},
	}
}

func TestCreditAndDrain(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	lc := newLinkCatcher()
	require.NoError(t, ts.Handle("src", lc.node()))
	ctx := testCtx(t)
	s := ts.session(t, nil)

	rcv, err := s.NewReceiver(ctx, "src", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, err)
	out := <-lc.out
	msg := func(i int) *amqp.Message { return amqp.NewMessage([]byte(fmt.Sprint(i))) }

	// No credit yet: TrySend refuses, Send waits.
	_, err = out.TrySend(msg(0), nil)
	require.ErrorIs(t, err, ErrNoCredit)
	sent := make(chan error, 1)
	go func() {
		_, err := out.Send(ctx, msg(0), nil)
		sent <- err
	}()

	require.NoError(t, rcv.IssueCredit(3))
	require.NoError(t, <-sent)
	for i := 1; i < 3; i++ {
		_, err := out.Send(ctx, msg(i), nil)
		require.NoError(t, err)
	}
	_, err = out.TrySend(msg(3), nil)
	require.ErrorIs(t, err, ErrNoCredit, "credit of 3 must allow exactly 3 messages")
	for i := range 3 {
		m, err := rcv.Receive(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), string(m.GetData()))
		require.NoError(t, rcv.AcceptMessage(ctx, m))
	}

	// Drain: 5 credits, 2 messages available; the rest must be given back.
	require.NoError(t, rcv.IssueCredit(5))
	require.Eventually(t, func() bool { return out.Credit() == 5 }, 5*time.Second, time.Millisecond)
	for i := 3; i < 5; i++ {
		_, err := out.Send(ctx, msg(i), nil)
		require.NoError(t, err)
	}
	require.NoError(t, rcv.DrainCredit(ctx, nil))
	assert.Zero(t, out.Credit(), "drain must consume the remaining credit")
	for i := 3; i < 5; i++ {
		m, err := rcv.Receive(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), string(m.GetData()))
		require.NoError(t, rcv.AcceptMessage(ctx, m))
	}
	_, err = out.TrySend(msg(9), nil)
	require.ErrorIs(t, err, ErrNoCredit)
}

func TestPrefetchCreditRefills(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	q := newQueueNode()
	require.NoError(t, ts.Handle("q", q.node()))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	rcv, err := s.NewReceiver(ctx, "q", &amqp.ReceiverOptions{Credit: 2})
	require.NoError(t, err)
	snd, err := s.NewSender(ctx, "q", nil)
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, snd.Send(ctx, amqp.NewMessage([]byte(fmt.Sprint(i))), nil))
	}
	for i := range 50 {
		m, err := rcv.Receive(ctx, nil)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(i), string(m.GetData()))
		require.NoError(t, rcv.AcceptMessage(ctx, m))
	}
}

func TestOutcomesFromClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		settle func(r *amqp.Receiver, m *amqp.Message) error
		want   Outcome
	}{
		{"accepted", func(r *amqp.Receiver, m *amqp.Message) error { return r.AcceptMessage(t.Context(), m) }, Accepted{}},
		{"released", func(r *amqp.Receiver, m *amqp.Message) error { return r.ReleaseMessage(t.Context(), m) }, Released{}},
		{"rejected", func(r *amqp.Receiver, m *amqp.Message) error {
			return r.RejectMessage(t.Context(), m, &amqp.Error{Condition: "x:bad", Description: "no"})
		}, &Rejected{Error: &Error{Condition: "x:bad", Description: "no"}}},
		{"modified", func(r *amqp.Receiver, m *amqp.Message) error {
			return r.ModifyMessage(t.Context(), m, &amqp.ModifyMessageOptions{DeliveryFailed: true, UndeliverableHere: true})
		}, &Modified{DeliveryFailed: true, UndeliverableHere: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, nil)
			lc := newLinkCatcher()
			require.NoError(t, ts.Handle("src", lc.node()))
			ctx := testCtx(t)
			s := ts.session(t, nil)
			rcv, err := s.NewReceiver(ctx, "src", nil)
			require.NoError(t, err)
			out := <-lc.out
			d, err := out.Send(ctx, amqp.NewMessage([]byte("x")), nil)
			require.NoError(t, err)
			m, err := rcv.Receive(ctx, nil)
			require.NoError(t, err)
			require.NoError(t, tt.settle(rcv, m))
			o, err := d.Wait(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.want, o)
		})
	}
}

func TestIncomingOutcomesToClient(t *testing.T) {
	t.Parallel()
	// The node settles asynchronously, after the handler returned.
	ts := newTestServer(t, nil)
	pending := make(chan *Delivery, 10)
	require.NoError(t, ts.Handle("sink", &Node{
		Incoming: func(l *IncomingLink) (MessageHandler, error) {
			return func(d *Delivery) Outcome { pending <- d; return nil }, nil
		},
	}))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	states := make(chan amqp.DeliveryState, 10)
	tests := []struct {
		outcome Outcome
		check   func(t *testing.T, err error)
	}{
		{Accepted{}, func(t *testing.T, err error) { require.NoError(t, err) }},
		{&Rejected{Error: &Error{Condition: CondResourceLimitExceeded, Description: "queue full"}}, func(t *testing.T, err error) {
			var ae *amqp.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, amqp.ErrCond(CondResourceLimitExceeded), ae.Condition)
		}},
		{Released{}, func(t *testing.T, err error) {
			require.NoError(t, err) // go-amqp only fails Send for rejected
			assert.IsType(t, &amqp.StateReleased{}, <-states)
		}},
		{&Modified{DeliveryFailed: true}, func(t *testing.T, err error) {
			require.NoError(t, err)
			st := <-states
			require.IsType(t, &amqp.StateModified{}, st)
			assert.True(t, st.(*amqp.StateModified).DeliveryFailed)
		}},
	}
	snd, err := s.NewSender(ctx, "sink", &amqp.SenderOptions{
		OnDeliveryStateChanged: func(st amqp.DeliveryState) {
			switch st.(type) {
			case *amqp.StateReleased, *amqp.StateModified:
				states <- st
			}
		},
	})
	require.NoError(t, err)
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() { done <- snd.Send(ctx, amqp.NewMessage([]byte("x")), nil) }()
		d := <-pending
		require.NoError(t, d.Settle(tt.outcome))
		require.ErrorIs(t, d.Settle(Accepted{}), ErrSettled)
		tt.check(t, <-done)
	}
}

func TestIncomingCreditReplenishAndBackpressure(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &ServerOptions{LinkCredit: 4})
	held := make(chan *Delivery, 100)
	require.NoError(t, ts.Handle("slow", &Node{Incoming: func(l *IncomingLink) (MessageHandler, error) {
		return func(d *Delivery) Outcome {
			if d.PreSettled() {
				return nil
			}
			held <- d // settled later: counts against the link's credit meanwhile
			return nil
		}, nil
	}}))
	ctx := testCtx(t)
	s := ts.session(t, nil)

	// Pre-settled: credit is topped up as messages arrive.
	fast, err := s.NewSender(ctx, "slow", &amqp.SenderOptions{SettlementMode: ptr(amqp.SenderSettleModeSettled)})
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, fast.Send(ctx, amqp.NewMessage([]byte(fmt.Sprint(i))), nil))
	}

	// Unsettled and held by the node: at most 4 in flight.
	snd, err := s.NewSender(ctx, "slow", nil)
	require.NoError(t, err)
	errs := make(chan error, 6)
	for i := range 6 {
		go func() { errs <- snd.Send(ctx, amqp.NewMessage([]byte(fmt.Sprint(i))), nil) }()
	}
	var first []*Delivery
	for range 4 {
		first = append(first, <-held)
	}
	select {
	case d := <-held:
		t.Fatalf("delivery %d arrived beyond the credit of 4", d.ID())
	case <-time.After(100 * time.Millisecond):
	}
	for _, d := range first {
		require.NoError(t, d.Settle(Accepted{}))
	}
	for range 2 {
		require.NoError(t, (<-held).Settle(Accepted{}))
	}
	for range 6 {
		require.NoError(t, <-errs)
	}
}

func TestWaitCreditAndChosenTag(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	lc := newLinkCatcher()
	require.NoError(t, ts.Handle("src", lc.node()))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	rcv, err := s.NewReceiver(ctx, "src", &amqp.ReceiverOptions{Credit: -1})
	require.NoError(t, err)
	out := <-lc.out

	waited := make(chan error, 1)
	go func() { waited <- out.WaitCredit(ctx) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitCredit returned %v before the client granted credit", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, rcv.IssueCredit(1))
	require.NoError(t, <-waited)

	tag := []byte("0123456789abcdef")
	_, err = out.Send(ctx, amqp.NewMessage([]byte("x")), &SendOptions{Tag: tag})
	require.NoError(t, err)
	m, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, tag, m.DeliveryTag)
	require.NoError(t, rcv.AcceptMessage(ctx, m))

	_, err = out.Send(ctx, amqp.NewMessage([]byte("x")), &SendOptions{Tag: make([]byte, 33)})
	require.ErrorContains(t, err, "at most 32")

	// A detached link ends the wait.
	go func() { waited <- out.WaitCredit(ctx) }()
	require.NoError(t, rcv.Close(ctx))
	require.ErrorIs(t, <-waited, ErrLinkDetached)
}
