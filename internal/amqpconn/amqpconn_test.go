package amqpconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	remote := func(c amqp.ErrCond) *amqp.Error { return &amqp.Error{Condition: c} }
	cases := []struct {
		err  error
		want Action
	}{
		{nil, Fatal},
		{context.Canceled, Fatal},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), Fatal},
		{ErrClosed, Fatal},
		{remote(amqp.ErrCondNotFound), Fatal},
		{remote(amqp.ErrCondUnauthorizedAccess), Fatal},
		{remote(amqp.ErrCondResourceLimitExceeded), Fatal},
		{remote(amqp.ErrCondMessageSizeExceeded), Fatal},
		{remote(CondServerBusy), RetryCall},
		{remote(amqp.ErrCondInternalError), RetryCall},
		{&amqp.LinkError{RemoteErr: remote(amqp.ErrCondDetachForced)}, RecreateLink},
		{&amqp.LinkError{}, RecreateLink},
		{&amqp.LinkError{RemoteErr: remote(amqp.ErrCondStolen)}, Fatal},
		{&amqp.LinkError{RemoteErr: remote(CondServerBusy)}, RecreateLink},
		{&amqp.ConnError{RemoteErr: remote(amqp.ErrCondConnectionForced)}, RecreateConn},
		{&amqp.ConnError{}, RecreateConn},
		{&amqp.SessionError{}, RecreateConn},
		{io.EOF, RecreateConn},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, RecreateConn},
		{&iothub.Error{StatusCode: 503}, RetryCall},
		{&iothub.Error{StatusCode: 401}, Fatal},
		{errors.New("bad input"), Fatal},
	}
	for i, tc := range cases {
		assert.Equal(t, tc.want, Classify(tc.err), "case %d: %v", i, tc.err)
	}
	assert.Equal(t, "recreate-connection", RecreateConn.String())
}

func TestHubError(t *testing.T) {
	t.Parallel()
	defaults := map[amqp.ErrCond]iothub.ErrorCode{amqp.ErrCondNotFound: iothub.CodeDeviceNotFound}
	le := &amqp.LinkError{RemoteErr: &amqp.Error{Condition: amqp.ErrCondNotFound, Description: "ModuleNotFound (404010): gone",
		Info: map[string]any{"com.microsoft:tracking-id": "t-1"}}}
	err := HubError(le, defaults)
	assert.ErrorIs(t, err, iothub.ErrModuleNotFound, "the code in the description wins")
	var he *iothub.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "t-1", he.TrackingID)
	var back *amqp.LinkError
	assert.ErrorAs(t, err, &back, "go-amqp's error stays reachable")

	assert.ErrorIs(t, HubError(&amqp.Error{Condition: amqp.ErrCondNotFound}, defaults), iothub.ErrDeviceNotFound)
	assert.ErrorIs(t, HubError(&amqp.Error{Condition: amqp.ErrCondUnauthorizedAccess}, nil), iothub.ErrUnauthorized)
	assert.ErrorIs(t, HubError(&amqp.Error{Condition: amqp.ErrCondMessageSizeExceeded}, nil), iothub.ErrMessageTooLarge)
	plain := errors.New("x")
	assert.Same(t, plain, HubError(plain, nil))
	unknown := HubError(&amqp.Error{Condition: "com.example:odd", Description: "odd"}, nil)
	require.ErrorAs(t, unknown, &he)
	assert.Equal(t, "com.example:odd", he.Name)
}

// hubConn returns a Conn to a fresh emulator, counting dials.
func hubConn(t *testing.T, key string) (*Conn, *emulator.Emulator, *atomic.Int32) {
	t.Helper()
	e, err := emulator.Start(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	if key == "" {
		for _, p := range e.Policies() {
			if p.Name == "service" {
				key = p.PrimaryKey
			}
		}
	}
	cred, err := auth.NewSharedAccessKeyCredential("service", key, nil)
	require.NoError(t, err)
	var dials atomic.Int32
	var d net.Dialer
	c, err := New(Config{HostName: e.HostName(), Credential: cred, PlainTCP: true,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, e, &dials
}

func TestGetDialsOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	c, _, dials := hubConn(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	gens := make(chan uint64, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.Get(ctx)
			if assert.NoError(t, err) {
				gens <- l.Generation
			}
		}()
	}
	wg.Wait()
	close(gens)
	for g := range gens {
		assert.Equal(t, uint64(1), g)
	}
	assert.Equal(t, int32(1), dials.Load())
}

func TestResetReplacesOnce(t *testing.T) {
	t.Parallel()
	c, _, dials := hubConn(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l1, err := c.Get(ctx)
	require.NoError(t, err)
	c.Reset(l1.Generation)
	c.Reset(l1.Generation) // a second caller noticing the same failure
	<-l1.Done
	l2, err := c.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), l2.Generation)
	c.Reset(l1.Generation) // stale: must not touch the new connection
	l3, err := c.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, l2.Generation, l3.Generation)
	assert.Equal(t, int32(2), dials.Load())
}

func TestDroppedConnectionIsReplaced(t *testing.T) {
	t.Parallel()
	c, e, _ := hubConn(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l1, err := c.Get(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Claim(ctx, l1, c.HostName()))
	e.DropAMQPConnections()
	<-l1.Conn.Done()
	l2, err := c.Get(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, l1.Generation, l2.Generation, "a connection the peer ended is not handed out")
	require.NoError(t, c.Claim(ctx, l2, c.HostName()))
}

func TestClaimRefused(t *testing.T) {
	t.Parallel()
	c, _, _ := hubConn(t, "Zm9yZ2VkLWtleS1mb3JnZWQta2V5LWZvcmdlZC1rZXk=")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.Get(ctx)
	require.NoError(t, err)
	err = c.Claim(ctx, l, c.HostName())
	require.ErrorIs(t, err, iothub.ErrUnauthorized)
	assert.Equal(t, Fatal, Classify(err))
}

func TestClosed(t *testing.T) {
	t.Parallel()
	c, _, _ := hubConn(t, "")
	require.NoError(t, c.Close())
	_, err := c.Get(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, c.Close())
	_, err = New(Config{Credential: nil, HostName: "x"})
	require.Error(t, err)
	_, err = New(Config{HostName: ""})
	require.Error(t, err)
}
