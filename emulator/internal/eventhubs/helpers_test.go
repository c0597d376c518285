package eventhubs

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
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run if the hub, the engine or go-amqp leave goroutines behind.
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
			if (strings.Contains(g, "eventhubs.") || strings.Contains(g, "amqpserver.") || strings.Contains(g, "go-amqp.")) &&
				!strings.Contains(g, "TestMain") && !strings.Contains(g, "waitForLeaks") {
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

// fakeClock is an injected clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a Hub registered on an amqpserver.Server served on loopback.
type env struct {
	hub   *Hub
	srv   *amqpserver.Server
	addr  string
	clock *fakeClock
}

// newEnv starts a hub; opts may be nil. The clock is a fakeClock unless
// opts sets Now.
func newEnv(t testing.TB, opts *Options) *env {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.EntityName == "" {
		o.EntityName = "myhub"
	}
	e := &env{}
	if o.Now == nil {
		e.clock = newFakeClock()
		o.Now = e.clock.Now
	}
	h, err := Open(&o)
	require.NoError(t, err)
	e.hub = h
	e.srv = amqpserver.NewServer(nil)
	require.NoError(t, e.hub.Register(e.srv))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.addr = ln.Addr().String()
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
				_ = e.srv.ServeConn(context.Background(), nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		require.NoError(t, e.hub.Close())
		require.NoError(t, e.srv.Close())
		wg.Wait()
	})
	return e
}

func (e *env) session(t testing.TB) *amqp.Session {
	t.Helper()
	ctx := testCtx(t)
	conn, err := amqp.Dial(ctx, "amqp://"+e.addr, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// receiverOpts builds partition receiver options like azeventhubs does.
func receiverOpts(filter string, epoch *int64, credit int32) *amqp.ReceiverOptions {
	o := &amqp.ReceiverOptions{
		SettlementMode: amqp.ReceiverSettleModeFirst.Ptr(),
		Credit:         credit,
		Properties:     map[string]any{},
	}
	if filter != "" {
		o.Filters = []amqp.LinkFilter{amqp.NewSelectorFilter(filter)}
	}
	if epoch != nil {
		o.Properties[EpochProperty] = *epoch
	}
	return o
}

func partitionAddr(entity, group, pid string) string {
	return entity + "/ConsumerGroups/" + group + "/Partitions/" + pid
}

// deviceFor returns a device id whose events go to partition pid.
func deviceFor(h *Hub, pid string) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("device-%d", i)
		if h.PartitionFor(id) == pid {
			return id
		}
	}
}

// appendN appends n events from one device, one second apart on the fake
// clock, with bodies "event-0" to "event-(n-1)".
func (e *env) appendN(t testing.TB, device string, n int) {
	t.Helper()
	for i := range n {
		_, _, err := e.hub.Append(testCtx(t), Event{DeviceID: device, Body: []byte(fmt.Sprintf("event-%d", i))})
		require.NoError(t, err)
		if e.clock != nil {
			e.clock.Advance(time.Second)
		}
	}
}

// receiveBodies receives n messages and returns their bodies.
func receiveBodies(t testing.TB, r *amqp.Receiver, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := r.Receive(ctx, nil)
		cancel()
		require.NoError(t, err)
		out = append(out, string(m.GetData()))
	}
	return out
}

func bodies(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("event-%d", i))
	}
	return out
}

// requireRefused asserts that an attach failed with a server error of
// condition cond; go-amqp returns a refused attach as a *amqp.Error.
func requireRefused(t testing.TB, err error, cond string) *amqp.Error {
	t.Helper()
	require.Error(t, err)
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae, "got %v", err)
	require.Equal(t, amqp.ErrCond(cond), ae.Condition, "got %v", ae)
	return ae
}

// requireDetached asserts that err is the *amqp.LinkError of a link the
// server detached with condition cond.
func requireDetached(t testing.TB, err error, cond string) *amqp.Error {
	t.Helper()
	require.Error(t, err)
	var le *amqp.LinkError
	require.ErrorAs(t, err, &le, "got %v", err)
	require.NotNil(t, le.RemoteErr, "got %v", err)
	require.Equal(t, amqp.ErrCond(cond), le.RemoteErr.Condition, "got %v", le.RemoteErr)
	return le.RemoteErr
}

func ptr[T any](v T) *T { return &v }
