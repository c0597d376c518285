package amqpserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run if the engine or go-amqp leave goroutines behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForLeaks(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		var leaked []string
		for _, g := range strings.Split(b.String(), "\n\n") {
			if strings.Contains(g, "amqpserver.") && !strings.Contains(g, "TestMain") && !strings.Contains(g, "waitForLeaks") ||
				strings.Contains(g, "go-amqp.") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond) // polling a real clock, not synchronising
	}
}

// testServer serves a Server on a loopback listener.
type testServer struct {
	*Server
	addr string
}

func newTestServer(t testing.TB, opts *ServerOptions) *testServer {
	t.Helper()
	srv := NewServer(opts)
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
			go func() {
				defer wg.Done()
				_ = srv.ServeConn(context.Background(), nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		require.NoError(t, srv.Close())
		wg.Wait()
	})
	return &testServer{Server: srv, addr: ln.Addr().String()}
}

func (ts *testServer) dial(t testing.TB, opts *amqp.ConnOptions) *amqp.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts == nil {
		opts = &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()}
	}
	conn, err := amqp.Dial(ctx, "amqp://"+ts.addr, opts)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (ts *testServer) session(t testing.TB, opts *amqp.ConnOptions) *amqp.Session {
	t.Helper()
	conn := ts.dial(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// queueNode is a node that stores what clients send and hands it to
// whoever receives from the same address. outcomes records, per message
// sent to a client, the outcome the client gave.
type queueNode struct {
	msgs     chan *amqp.Message
	outcomes chan Outcome
}

func newQueueNode() *queueNode {
	return &queueNode{msgs: make(chan *amqp.Message, 10000), outcomes: make(chan Outcome, 10000)}
}

func (q *queueNode) node() *Node {
	return &Node{
		Incoming: func(l *IncomingLink) (MessageHandler, error) {
			return func(d *Delivery) Outcome {
				q.msgs <- d.Message
				return Accepted{}
			}, nil
		},
		Outgoing: func(l *OutgoingLink) error {
			l.Go(func(context.Context) {
				for {
					select {
					case <-l.Context().Done():
						return
					case m := <-q.msgs:
						d, err := l.Send(l.Context(), m, nil)
						if err != nil {
							return
						}
						go func() {
							o, err := d.Outcome()
							if err == nil {
								q.outcomes <- o
							}
						}()
					}
				}
			})
			return nil
		},
	}
}

func ptr[T any](v T) *T { return &v }
