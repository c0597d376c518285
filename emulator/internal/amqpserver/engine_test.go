package amqpserver

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSendReceiveSettleModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		snd amqp.SenderSettleMode
		rcv amqp.ReceiverSettleMode
	}{
		{amqp.SenderSettleModeUnsettled, amqp.ReceiverSettleModeFirst},
		{amqp.SenderSettleModeUnsettled, amqp.ReceiverSettleModeSecond},
		{amqp.SenderSettleModeSettled, amqp.ReceiverSettleModeFirst},
		{amqp.SenderSettleModeMixed, amqp.ReceiverSettleModeSecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("snd=%s/rcv=%s", tt.snd.String(), tt.rcv.String()), func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, nil)
			q := newQueueNode()
			require.NoError(t, ts.Handle("/queue/{name}", q.node()))
			ctx := testCtx(t)
			s := ts.session(t, nil)

			snd, err := s.NewSender(ctx, "queue/a", &amqp.SenderOptions{
				SettlementMode: ptr(tt.snd), RequestedReceiverSettleMode: ptr(tt.rcv),
			})
			require.NoError(t, err)
			rcv, err := s.NewReceiver(ctx, "/queue/a", &amqp.ReceiverOptions{
				SettlementMode: ptr(tt.rcv), RequestedSenderSettleMode: ptr(tt.snd),
			})
			require.NoError(t, err)

			const n = 20
			for i := range n {
				require.NoError(t, snd.Send(ctx, amqp.NewMessage([]byte(fmt.Sprint("msg", i))), nil))
			}
			for i := range n {
				m, err := rcv.Receive(ctx, nil)
				require.NoError(t, err)
				assert.Equal(t, fmt.Sprint("msg", i), string(m.GetData()))
				require.NoError(t, rcv.AcceptMessage(ctx, m))
			}
			if tt.snd != amqp.SenderSettleModeSettled {
				for range n {
					select {
					case o := <-q.outcomes:
						assert.Equal(t, Accepted{}, o)
					case <-ctx.Done():
						t.Fatal("no outcome reached the node")
					}
				}
			}
			require.NoError(t, snd.Close(ctx))
			require.NoError(t, rcv.Close(ctx))
		})
	}
}

func TestLargeMessageSmallFrames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &ServerOptions{MaxFrameSize: 1024})
	q := newQueueNode()
	require.NoError(t, ts.Handle("big", q.node()))
	ctx := testCtx(t)
	s := ts.session(t, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), MaxFrameSize: 600})

	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	snd, err := s.NewSender(ctx, "big", nil)
	require.NoError(t, err)
	rcv, err := s.NewReceiver(ctx, "big", nil)
	require.NoError(t, err)
	require.NoError(t, snd.Send(ctx, amqp.NewMessage(payload), nil))
	m, err := rcv.Receive(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, payload, m.GetData())
	require.NoError(t, rcv.AcceptMessage(ctx, m))
}

func TestManyLinksOneConnection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	var mu sync.Mutex
	got := map[string]string{}
	require.NoError(t, ts.Handle("/devices/{id}/messages/devicebound", &Node{
		Incoming: func(l *IncomingLink) (MessageHandler, error) {
			id := l.Param("id")
			return func(d *Delivery) Outcome {
				mu.Lock()
				got[id] = string(d.Message.GetData())
				mu.Unlock()
				return Accepted{}
			}, nil
		},
	}))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	const links = 100
	var wg sync.WaitGroup
	errs := make(chan error, links)
	for i := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snd, err := s.NewSender(ctx, fmt.Sprintf("/devices/d%d/messages/devicebound", i), nil)
			if err != nil {
				errs <- err
				return
			}
			if err := snd.Send(ctx, amqp.NewMessage([]byte(fmt.Sprint(i))), nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, got, links)
	for i := range links {
		assert.Equal(t, fmt.Sprint(i), got[fmt.Sprintf("d%d", i)])
	}
}

func TestManyConnections(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	queues := map[string]*queueNode{}
	for i := range 50 {
		q := newQueueNode()
		queues[fmt.Sprint(i)] = q
		require.NoError(t, ts.Handle(fmt.Sprintf("q%d", i), q.node()))
	}
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		s := ts.session(t, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- roundTrip(ctx, s, fmt.Sprintf("q%d", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, ts.Conns(), 50)
}

func roundTrip(ctx context.Context, s *amqp.Session, addr string) error {
	snd, err := s.NewSender(ctx, addr, nil)
	if err != nil {
		return err
	}
	rcv, err := s.NewReceiver(ctx, addr, nil)
	if err != nil {
		return err
	}
	for i := range 10 {
		if err := snd.Send(ctx, amqp.NewMessage([]byte(addr)), nil); err != nil {
			return err
		}
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			return err
		}
		if string(m.GetData()) != addr {
			return fmt.Errorf("message %d: got %q", i, m.GetData())
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
