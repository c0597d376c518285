package amqpserver

import (
	"bufio"
	"context"
	"net"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// peekedConn is what the emulator's port-sharing listener hands over: the
// protocol sniffing already read the first bytes into a bufio.Reader.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestServeConnAfterPeek(t *testing.T) {
	t.Parallel()
	srv := NewServer(nil)
	q := newQueueNode()
	require.NoError(t, srv.Handle("q", q.node()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		br := bufio.NewReader(nc)
		head, err := br.Peek(4)
		if err != nil || string(head) != "AMQP" {
			nc.Close()
			served <- err
			return
		}
		served <- srv.ServeConn(ctx, &peekedConn{Conn: nc, r: br})
	}()

	conn, err := amqp.Dial(testCtx(t), "amqp://"+ln.Addr().String(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	s, err := conn.NewSession(testCtx(t), nil)
	require.NoError(t, err)
	require.NoError(t, roundTrip(testCtx(t), s, "q"))

	// Cancelling the ServeConn context closes the connection with connection:forced.
	cancel()
	require.NoError(t, <-served)
	<-conn.Done()
	var ce *amqp.ConnError
	require.ErrorAs(t, conn.Err(), &ce)
	require.NotNil(t, ce.RemoteErr)
	assert.Equal(t, amqp.ErrCond(CondConnectionForced), ce.RemoteErr.Condition)
	require.NoError(t, srv.Close())
}

func TestShutdownClosesEverything(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	lc := newLinkCatcher()
	require.NoError(t, ts.Handle("n", lc.node()))
	ctx := testCtx(t)
	conns := make([]*amqp.Conn, 3)
	for i := range conns {
		conns[i] = ts.dial(t, nil)
		s, err := conns[i].NewSession(ctx, nil)
		require.NoError(t, err)
		_, err = s.NewReceiver(ctx, "n", nil)
		require.NoError(t, err)
	}
	out := <-lc.out
	blocked := make(chan error, 1)
	go func() {
		// No credit will come: Shutdown must release this sender.
		for {
			if _, err := out.Send(ctx, amqp.NewMessage([]byte("x")), nil); err != nil {
				blocked <- err
				return
			}
		}
	}()
	require.NoError(t, ts.Shutdown(ctx))
	require.Error(t, <-blocked)
	for _, c := range conns {
		<-c.Done()
	}
	assert.Empty(t, ts.Conns())
	nc1, nc2 := net.Pipe()
	defer nc2.Close()
	require.ErrorIs(t, ts.ServeConn(ctx, nc1), ErrServerClosed)
}
