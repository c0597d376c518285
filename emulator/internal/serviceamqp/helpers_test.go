package serviceamqp

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

// served is a hub core in memory with its service AMQP side on a loopback
// port, as the emulator runs them.
type served struct {
	hub   *core.Hub
	entra *entra.Authority
}

// start serves a new hub until the test ends.
func start(t *testing.T) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hub, err := core.Open(nil)
	require.NoError(t, err)
	hub.SetHostName(ln.Addr().String(), false)
	authority, err := entra.NewAuthority()
	require.NoError(t, err)
	svc, err := Start(hub, &Options{VerifyJWT: func(token string) (entra.Grant, error) { return authority.Verify(token, hub.Now()) }})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = svc.ServeConn(hub.BaseContext(), c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		hub.Stop(errors.New("the test ended"))
		svc.Close()
		wg.Wait()
		_ = hub.Close()
	})
	return &served{hub: hub, entra: authority}
}

// HostName is the host and port clients dial.
func (s *served) HostName() string { return s.hub.HostName() }

// HubName is the hub's name, which names the Event Hub-compatible entity.
func (s *served) HubName() string { return s.hub.HubName() }

// accessToken is an Entra ID token of the hub's authority.
type accessToken struct {
	Token     string
	ExpiresOn time.Time
}

// token mints a token holding roles that lives for lifetime, as the
// emulator's TokenCredential does.
func (s *served) token(t *testing.T, lifetime time.Duration, roles ...string) accessToken {
	t.Helper()
	tok, exp, err := s.entra.Mint(s.hub.Now(), entra.NewObjectID(), roles, lifetime)
	require.NoError(t, err)
	return accessToken{Token: tok, ExpiresOn: exp}
}
