package cbs

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// fakeVerify accepts tokens "ok|<rights>|<path>|<ttl>" and refuses the rest.
func fakeVerify(_, token string) (Grant, error) {
	parts := strings.Split(token, "|")
	if len(parts) != 4 || parts[0] != "ok" {
		return Grant{}, errors.New("the signature does not match")
	}
	r, _ := strconv.Atoi(parts[1])
	ttl, _ := time.ParseDuration(parts[3])
	return Grant{Principal: "test", Rights: Rights(r), Path: parts[2], Expires: time.Now().Add(ttl)}, nil
}

type harness struct {
	auth *Authority
	addr string
}

// newHarness serves $cbs and a node at /guarded/{x} that needs
// ServiceConnect on a loopback listener.
func newHarness(t *testing.T) *harness {
	t.Helper()
	a := New(Options{Verify: fakeVerify})
	srv := amqpserver.NewServer(&amqpserver.ServerOptions{
		SASLPlain: func(_ context.Context, user, pass string) (amqpserver.Identity, error) {
			if pass != "secret" {
				return amqpserver.Identity{}, errors.New("bad password")
			}
			return amqpserver.Identity{Mechanism: "PLAIN", Name: user, Rights: []string{"ServiceConnect"}}, nil
		},
	})
	require.NoError(t, srv.Handle("$cbs", a.Node()))
	require.NoError(t, srv.Handle("/guarded/{x}", &amqpserver.Node{
		Outgoing: func(l *amqpserver.OutgoingLink) error { return a.AuthorizeLink(l.Link, ServiceConnect) },
	}))
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
			go func() { defer wg.Done(); _ = srv.ServeConn(context.Background(), nc) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); _ = srv.Close(); wg.Wait() })
	return &harness{auth: a, addr: ln.Addr().String()}
}

func (h *harness) dial(t *testing.T, opts *amqp.ConnOptions) *amqp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts == nil {
		opts = &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()}
	}
	conn, err := amqp.Dial(ctx, "amqp://"+h.addr, opts)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	return s
}

// putToken sends one put-token request and returns the status code and description.
func putToken(t *testing.T, s *amqp.Session, token, audience string) (int32, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recv, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: "cbs-reply"})
	require.NoError(t, err)
	defer recv.Close(ctx)
	send, err := s.NewSender(ctx, "$cbs", nil)
	require.NoError(t, err)
	defer send.Close(ctx)
	msg := &amqp.Message{
		Value:                 token,
		Properties:            &amqp.MessageProperties{MessageID: "1", ReplyTo: ptr("cbs-reply")},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": audience},
	}
	require.NoError(t, send.Send(ctx, msg, nil))
	resp, err := recv.Receive(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, recv.AcceptMessage(ctx, resp))
	code, _ := resp.ApplicationProperties["status-code"].(int32)
	desc, _ := resp.ApplicationProperties["status-description"].(string)
	return code, desc
}

func ptr[T any](v T) *T { return &v }

func attach(s *amqp.Session, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.NewReceiver(ctx, addr, nil)
	if err == nil {
		_ = r.Close(ctx)
	}
	return err
}

func linkCondition(t *testing.T, err error) amqp.ErrCond {
	t.Helper()
	var le *amqp.LinkError
	if errors.As(err, &le) {
		require.NotNil(t, le.RemoteErr)
		return le.RemoteErr.Condition
	}
	var ae *amqp.Error // an attach refused outright
	require.ErrorAs(t, err, &ae)
	return ae.Condition
}

func TestPutTokenThenAttach(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := h.dial(t, nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, linkCondition(t, attach(s, "/guarded/a")), "no token yet")

	code, _ := putToken(t, s, "ok|4||1h", "amqps://hub.example/guarded/a")
	require.Equal(t, int32(200), code)
	require.NoError(t, attach(s, "/guarded/a"))
	require.NoError(t, attach(s, "amqps://hub.example/guarded/b"), "the grant covers the whole hub")
}

func TestPutTokenRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := h.dial(t, nil)
	cases := []struct {
		token, audience string
		code            int32
	}{
		{"forged", "hub.example/guarded/a", 401},
		{"ok|4|guarded/a|1h", "hub.example/other", 401},
		{"ok|4||-1s", "hub.example/guarded/a", 401},
		{"", "hub.example/guarded/a", 400},
	}
	for _, tc := range cases {
		code, desc := putToken(t, s, tc.token, tc.audience)
		assert.Equal(t, tc.code, code, tc.token)
		assert.NotContains(t, desc, "ok|", "the description never echoes the token")
	}
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, linkCondition(t, attach(s, "/guarded/a")))
}

func TestGrantScopeAndRights(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := h.dial(t, nil)
	code, _ := putToken(t, s, "ok|4|guarded/a|1h", "hub.example/guarded/a")
	require.Equal(t, int32(200), code)
	require.NoError(t, attach(s, "/guarded/a"))
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, linkCondition(t, attach(s, "/guarded/b")), "outside the token's path")

	s2 := h.dial(t, nil)
	code, _ = putToken(t, s2, "ok|1||1h", "hub.example")
	require.Equal(t, int32(200), code)
	err := attach(s2, "/guarded/a")
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, linkCondition(t, err), "RegistryRead is not ServiceConnect")
	assert.Contains(t, err.Error(), "lacks the permission")
}

func TestGrantsArePerConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s1 := h.dial(t, nil)
	code, _ := putToken(t, s1, "ok|4||1h", "hub.example")
	require.Equal(t, int32(200), code)
	s2 := h.dial(t, nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, linkCondition(t, attach(s2, "/guarded/a")))
}

func TestSASLPlainGrants(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s := h.dial(t, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("service@sas.root.hub", "secret")})
	require.NoError(t, attach(s, "/guarded/a"))
}

func TestExpiredGrantDetachesLinkUnlessRenewed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	s := h.dial(t, nil)
	code, _ := putToken(t, s, "ok|4||400ms", "hub.example")
	require.Equal(t, int32(200), code)
	r, err := s.NewReceiver(ctx, "/guarded/a", nil)
	require.NoError(t, err)
	_, err = r.Receive(ctx, nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, linkCondition(t, err), "detached once the token expired")

	renewed := h.dial(t, nil)
	code, _ = putToken(t, renewed, "ok|4||400ms", "hub.example")
	require.Equal(t, int32(200), code)
	r2, err := renewed.NewReceiver(ctx, "/guarded/a", nil)
	require.NoError(t, err)
	code, _ = putToken(t, renewed, "ok|4||1h", "hub.example") // renewal before expiry
	require.Equal(t, int32(200), code)
	rctx, rcancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer rcancel()
	_, err = r2.Receive(rctx, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the renewed link stays attached past the first token's expiry")
}

func TestAudiencePath(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"amqps://hub.azure-devices.net/messages/devicebound": "messages/devicebound",
		"hub.azure-devices.net/messages/DeviceBound":         "messages/devicebound",
		"127.0.0.1:5671/messages/devicebound":                "messages/devicebound",
		"/messages/devicebound":                              "messages/devicebound",
		"messages/devicebound":                               "messages/devicebound",
		"sb://127.0.0.1:1234/myhub/":                         "myhub",
		"hub.azure-devices.net":                              "",
		"amqps%3A%2F%2Fhub%2Fx":                              "x",
		"$cbs":                                               "$cbs",
	}
	for in, want := range cases {
		assert.Equal(t, want, audiencePath(in), in)
	}
	assert.True(t, covers("", "x"))
	assert.True(t, covers("a/b", "a/b/c"))
	assert.False(t, covers("a/b", "a/bc"))
	assert.Equal(t, ServiceConnect|RegistryRead, ParseRights([]string{"ServiceConnect", " registryread ", "nope"}))
}

func TestMaxLifetimeFault(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.auth.SetMaxLifetime(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := h.dial(t, nil)
	code, _ := putToken(t, s, "ok|4||1h", "hub.example")
	require.Equal(t, int32(200), code)
	r, err := s.NewReceiver(ctx, "/guarded/a", nil)
	require.NoError(t, err)
	_, err = r.Receive(ctx, nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, linkCondition(t, err), "the hour-long token was cut to 300 ms")
}

func TestAudienceWithPlainHostName(t *testing.T) {
	t.Parallel()
	a := New(Options{Verify: fakeVerify, IsHost: func(n string) bool { return n == "localhost" }})
	// The Node device SDK puts the token's sr, URL-encoded, as the audience.
	assert.Equal(t, "devices/d1", a.audiencePath("localhost%2Fdevices%2Fd1"))
	assert.Equal(t, "devices/d1", a.audiencePath("localhost/devices/d1"))
	assert.Equal(t, "localhost/devices/d1", a.audiencePath("/localhost/devices/d1"), "a leading / names a path, not a host")
	assert.Equal(t, "messages/devicebound", a.audiencePath("messages/devicebound"), "not a host of the server")
	assert.Equal(t, "localhost/devices/d1", New(Options{Verify: fakeVerify}).audiencePath("localhost/devices/d1"), "without IsHost, a dotless name is a path")
}
