package amqpserver

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Several node goroutines push on one link while the client trickles credit;
// then the link detaches under them.
func TestConcurrentSendersOneLink(t *testing.T) {
	t.Parallel()
	const pushers, each = 4, 200
	ts := newTestServer(t, nil)
	sendErrs := make(chan error, pushers)
	outcomes := make(chan Outcome, pushers*each)
	require.NoError(t, ts.Handle("fanin", &Node{Outgoing: func(l *OutgoingLink) error {
		for p := range pushers {
			l.Go(func(ctx context.Context) {
				for i := 0; ; i++ {
					opts := &SendOptions{Settled: i%2 == 0}
					d, err := l.Send(ctx, amqp.NewMessage([]byte(fmt.Sprint(p, "-", i))), opts)
					if err != nil {
						sendErrs <- err
						return
					}
					if i < each {
						l.Go(func(ctx context.Context) {
							if o, err := d.Outcome(); err == nil {
								outcomes <- o
							}
						})
					}
				}
			})
		}
		return nil
	}}))
	ctx := testCtx(t)
	s := ts.session(t, nil)
	rcv, err := s.NewReceiver(ctx, "fanin", &amqp.ReceiverOptions{Credit: 3})
	require.NoError(t, err)
	// Pushers go on past `each`, so extra messages interleave; read until
	// every tracked one arrived.
	seen := map[string]bool{}
	tracked := 0
	for tracked < pushers*each {
		m, err := rcv.Receive(ctx, nil)
		require.NoError(t, err)
		id := string(m.GetData())
		require.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
		var p, i int
		_, err = fmt.Sscanf(id, "%d-%d", &p, &i)
		require.NoError(t, err)
		if i < each {
			tracked++
		}
		require.NoError(t, rcv.AcceptMessage(ctx, m))
	}
	for range pushers * each {
		assert.Equal(t, Accepted{}, <-outcomes)
	}
	n := ts.DetachLinks(func(l *Link) bool { return l.IsOutgoing() }, &Error{Condition: CondLinkDetachForced})
	require.Equal(t, 1, n)
	for range pushers {
		require.ErrorIs(t, <-sendErrs, ErrLinkDetached)
	}
}

// Many client senders and receivers on many sessions of one connection.
func TestManySessionsTraffic(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	for i := range 8 {
		require.NoError(t, ts.Handle(fmt.Sprint("s", i), newQueueNode().node()))
	}
	conn := ts.dial(t, nil)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		s, err := conn.NewSession(ctx, nil)
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- roundTrip(ctx, s, fmt.Sprint("s", i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
