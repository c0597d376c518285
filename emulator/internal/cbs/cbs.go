// Package cbs is the emulator's claims-based security: the $cbs node that
// takes put-token requests over AMQP, and the checks every other AMQP node
// makes before it serves a link. A token grants the rights of its policy
// over the part of the hub its resource names, until it expires; a link
// whose grant expires without a renewed token is detached with
// amqp:unauthorized-access, as the hub does.
package cbs

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// Rights are permission bits, the same as the emulator's policy rights.
type Rights uint8

// The rights a token can grant.
const (
	RegistryRead Rights = 1 << iota
	RegistryWrite
	ServiceConnect
	DeviceConnect
)

var rightNames = map[string]Rights{
	"registryread": RegistryRead, "registrywrite": RegistryWrite,
	"serviceconnect": ServiceConnect, "deviceconnect": DeviceConnect,
}

// ParseRights reads rights named as the hub names them ("RegistryRead",
// "ServiceConnect"…); unknown names are ignored.
func ParseRights(names []string) Rights {
	var r Rights
	for _, n := range names {
		r |= rightNames[strings.ToLower(strings.TrimSpace(n))]
	}
	return r
}

// Grant is what a verified token allows.
type Grant struct {
	// Principal names who holds it (a policy name, say), for messages.
	Principal string
	// Rights are the permissions granted.
	Rights Rights
	// Path is the part of the hub the token covers, lower-case without
	// leading or trailing "/"; empty for the whole hub.
	Path string
	// Expires is when the grant ends; zero never.
	Expires time.Time
}

// Verifier checks a token of type tokenType ("servicebus.windows.net:sastoken"
// or "jwt"): its signature, expiry and that it names this hub. It returns
// what the token grants, or an error saying why it is refused (never
// holding the token).
type Verifier func(tokenType, token string) (Grant, error)

// Options configure an Authority.
type Options struct {
	// Verify checks tokens. Required.
	Verify Verifier
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// IsHost tells whether a put-token audience's first segment is a host
	// name of this server, for names that look like no host on their own
	// ("localhost/devices/d1"). Default: only names with a dot or a port
	// are hosts.
	IsHost func(name string) bool
}

// Authority keeps the grants of every AMQP connection and checks links
// against them. It is safe for concurrent use.
type Authority struct {
	verify Verifier
	now    func() time.Time
	isHost func(string) bool
	conns  sync.Map // *amqpserver.Conn → *connState

	maxLifetime atomic.Int64 // a fault: grants end this long after put-token at the latest; 0 = off
}

// SetMaxLifetime makes grants put from now on end at most d after their
// put-token, whatever their token says, so tests can see short-lived
// tokens renewed (and links detached when they are not). Zero turns it off.
func (a *Authority) SetMaxLifetime(d time.Duration) { a.maxLifetime.Store(int64(d)) }

// New returns an Authority.
func New(opts Options) *Authority {
	a := &Authority{verify: opts.Verify, now: opts.Now, isHost: opts.IsHost}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// connState is what the Authority knows of one connection.
type connState struct {
	mu     sync.Mutex
	grants []Grant
	links  map[*amqpserver.Link]Rights // links to re-check when a grant expires
	timer  *time.Timer
}

// state returns the connection's state, creating it on first use; it is
// forgotten (and its timer stopped) when the connection ends.
func (a *Authority) state(c *amqpserver.Conn) *connState {
	if s, ok := a.conns.Load(c); ok {
		return s.(*connState)
	}
	fresh := &connState{links: map[*amqpserver.Link]Rights{}}
	s, loaded := a.conns.LoadOrStore(c, fresh)
	if !loaded {
		go func() {
			<-c.Context().Done()
			a.conns.Delete(c)
			fresh.mu.Lock()
			if fresh.timer != nil {
				fresh.timer.Stop()
			}
			fresh.mu.Unlock()
		}()
	}
	return s.(*connState)
}

// Node returns the $cbs node.
func (a *Authority) Node() *amqpserver.Node {
	return amqpserver.NewRequestResponseNode(a.putToken)
}

// Status codes of put-token answers. IoT Hub answers a good token with 200
// "OK", and the clients' sources show why nothing else will do: azure-iot's
// Node CBS agent (azure-iot-amqp-base, bundled in azure-iothub 1.16) treats
// any status but 200 as UnauthorizedError; @azure/core-amqp (the
// JavaScript Event Hubs SDK, requestResponseLink.js) and go-amqp based
// clients (azeventhubs' internal/rpc.go, this SDK's amqpconn) accept 200
// to 299.
const (
	statusOK           = 200
	statusBadRequest   = 400
	statusUnauthorized = 401
)

func reply(code int32, description string) *amqp.Message {
	return &amqp.Message{ApplicationProperties: map[string]any{
		"status-code":        code,
		"status-description": description,
	}}
}

func (a *Authority) putToken(_ context.Context, req *amqpserver.Request) (*amqp.Message, error) {
	props := req.Message.ApplicationProperties
	op, _ := props["operation"].(string)
	if op != "put-token" {
		return reply(statusBadRequest, fmt.Sprintf("unsupported operation %q; only put-token is served", op)), nil
	}
	tokenType, _ := props["type"].(string)
	audience, _ := props["name"].(string)
	token, ok := req.Message.Value.(string)
	if !ok {
		if len(req.Message.Data) == 1 {
			token, ok = string(req.Message.Data[0]), true
		}
	}
	if !ok || token == "" || tokenType == "" || audience == "" {
		return reply(statusBadRequest, "a put-token request needs the type and name properties and the token as an AMQP string value"), nil
	}
	g, err := a.verify(tokenType, token)
	if err != nil {
		return reply(statusUnauthorized, err.Error()), nil
	}
	if !g.Expires.IsZero() && !a.now().Before(g.Expires) {
		return reply(statusUnauthorized, "the token has expired"), nil
	}
	if max := time.Duration(a.maxLifetime.Load()); max > 0 {
		if limit := a.now().Add(max); g.Expires.IsZero() || g.Expires.After(limit) {
			g.Expires = limit
		}
	}
	if !covers(g.Path, a.audiencePath(audience)) {
		return reply(statusUnauthorized, "the token's resource does not cover the audience "+audience), nil
	}
	// The grant covers what the token's resource names: the audience only
	// says which links the client means to open.
	a.addGrant(req.Conn, g)
	return reply(statusOK, "OK"), nil
}

func (a *Authority) addGrant(c *amqpserver.Conn, g Grant) {
	s := a.state(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := a.now()
	kept := s.grants[:0]
	for _, old := range s.grants {
		if old.Expires.IsZero() || now.Before(old.Expires) {
			kept = append(kept, old)
		}
	}
	s.grants = append(kept, g)
	a.scheduleLocked(c, s)
}

// scheduleLocked arms the timer for the next grant expiry.
func (a *Authority) scheduleLocked(c *amqpserver.Conn, s *connState) {
	var next time.Time
	for _, g := range s.grants {
		if !g.Expires.IsZero() && (next.IsZero() || g.Expires.Before(next)) {
			next = g.Expires
		}
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if next.IsZero() {
		return
	}
	s.timer = time.AfterFunc(next.Sub(a.now()), func() { a.expire(c) })
}

// expire drops expired grants and detaches the links they no longer cover.
func (a *Authority) expire(c *amqpserver.Conn) {
	s := a.state(c)
	s.mu.Lock()
	now := a.now()
	kept := s.grants[:0]
	for _, g := range s.grants {
		if g.Expires.IsZero() || now.Before(g.Expires) {
			kept = append(kept, g)
		}
	}
	s.grants = kept
	var lost []*amqpserver.Link
	for l, need := range s.links {
		if l.Context().Err() != nil {
			delete(s.links, l)
			continue
		}
		if a.allowedLocked(c, s, linkPath(l), need, now) != nil {
			lost = append(lost, l)
			delete(s.links, l)
		}
	}
	a.scheduleLocked(c, s)
	s.mu.Unlock()
	for _, l := range lost {
		_ = l.Detach(&amqpserver.Error{Condition: amqpserver.CondUnauthorizedAccess,
			Description: "the token authorising this link expired and was not renewed"})
	}
}

// Authorize checks that the connection holds a live grant with need over
// address (a node address or an amqps:// URL).
func (a *Authority) Authorize(c *amqpserver.Conn, address string, need Rights) error {
	s := a.state(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	return a.allowedLocked(c, s, audiencePath(address), need, a.now())
}

// AuthorizeLink is Authorize for a link being attached; the link is then
// watched and detached with amqp:unauthorized-access once no live grant
// covers it.
func (a *Authority) AuthorizeLink(l *amqpserver.Link, need Rights) error {
	c := l.Conn()
	s := a.state(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := a.allowedLocked(c, s, linkPath(l), need, a.now()); err != nil {
		return err
	}
	s.links[l] = need
	return nil
}

func (a *Authority) allowedLocked(c *amqpserver.Conn, s *connState, path string, need Rights, now time.Time) error {
	if id := c.Identity(); id.Mechanism == "PLAIN" && (id.Expires.IsZero() || now.Before(id.Expires)) &&
		covers(id.Scope, path) && ParseRights(id.Rights)&need != 0 {
		return nil
	}
	seen := false
	for _, g := range s.grants {
		if !g.Expires.IsZero() && !now.Before(g.Expires) {
			continue
		}
		if !covers(g.Path, path) {
			continue
		}
		seen = true
		if g.Rights&need != 0 {
			return nil
		}
	}
	desc := "no valid token covers " + displayPath(path) + "; put one on $cbs first"
	if seen {
		desc = "the token covering " + displayPath(path) + " lacks the permission this needs"
	}
	return &amqpserver.Error{Condition: amqpserver.CondUnauthorizedAccess, Description: desc}
}

func displayPath(p string) string { return "/" + p }

func linkPath(l *amqpserver.Link) string { return audiencePath(l.Address()) }

// audiencePath reduces an audience or address ("amqps://host/messages/devicebound",
// "host/messages/devicebound", "/messages/devicebound", "sb://ns/hub") to
// its path, lower-case, without the host.
func audiencePath(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if u, err := url.PathUnescape(s); err == nil {
		s = u
	}
	hadScheme := false
	for _, scheme := range []string{"amqps://", "amqp://", "sb://", "https://", "http://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			s, hadScheme = rest, true
			break
		}
	}
	if hadScheme || !strings.HasPrefix(s, "/") && looksLikeHost(s) {
		_, s, _ = strings.Cut(s, "/")
	}
	return strings.Trim(s, "/")
}

// audiencePath is audiencePath for a put-token audience, which names a
// host first even when the host looks like none.
func (a *Authority) audiencePath(audience string) string {
	p := audiencePath(audience)
	if first, rest, _ := strings.Cut(p, "/"); a.isHost != nil && !strings.HasPrefix(strings.TrimSpace(audience), "/") && a.isHost(first) {
		return rest
	}
	return p
}

// looksLikeHost reports whether the first segment of s is a host name: it
// holds a dot or a port.
func looksLikeHost(s string) bool {
	first, _, _ := strings.Cut(s, "/")
	return strings.ContainsAny(first, ".:")
}

// covers reports whether a grant over scope covers path.
func covers(scope, path string) bool {
	return scope == "" || path == scope || strings.HasPrefix(path, scope+"/")
}
