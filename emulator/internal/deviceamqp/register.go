package deviceamqp

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"sync"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Server is the AMQP engine the links are served on, with its
// claims-based security: the service AMQP front end.
type Server interface {
	// Handle serves the addresses pattern matches with n.
	Handle(pattern string, n *amqpserver.Node) error
	// AuthorizeDeviceLink checks that the link's connection holds a live
	// grant with DeviceConnect over the link's address, and detaches the
	// link once none does.
	AuthorizeDeviceLink(l *amqpserver.Link) error
}

// Options configure the front end. A nil *Options accepts the defaults.
type Options struct {
	// Logger receives diagnostics (never keys or tokens). Default: discard.
	Logger *slog.Logger
	// PeerCertificates returns the TLS client certificates a connection
	// presented, so that X.509 devices, which put no token on $cbs,
	// authenticate by thumbprint. Default: none (X.509 devices are
	// refused).
	PeerCertificates func(net.Conn) []*x509.Certificate
}

// frontEnd serves the device links of one hub.
type frontEnd struct {
	hub    *core.Hub
	srv    Server
	logger *slog.Logger
	certs  func(net.Conn) []*x509.Certificate

	mu    sync.Mutex
	conns map[*amqpserver.Conn]map[sessions.Key]*identity
}

// The addresses of an identity's links, after /devices/{id} or
// /devices/{id}/modules/{mid}.
const (
	addrEvents      = "/messages/events"
	addrDevicebound = "/messages/devicebound"
	addrMethods     = "/methods/devicebound"
	addrTwin        = "/twin"
)

// Register serves the device and module links on srv.
func Register(srv Server, hub *core.Hub, opts *Options) error {
	fe := &frontEnd{hub: hub, srv: srv, logger: slog.New(slog.DiscardHandler), conns: map[*amqpserver.Conn]map[sessions.Key]*identity{}}
	if opts != nil && opts.Logger != nil {
		fe.logger = opts.Logger
	}
	if opts != nil {
		fe.certs = opts.PeerCertificates
	}
	for _, prefix := range []string{"/devices/{id}", "/devices/{id}/modules/{mid}"} {
		for _, r := range []struct {
			addr string
			node *amqpserver.Node
		}{
			{addrEvents, &amqpserver.Node{Incoming: fe.attachEvents}},
			{addrDevicebound, &amqpserver.Node{Outgoing: fe.attachDevicebound}},
			{addrMethods, &amqpserver.Node{Incoming: fe.attachMethodResponses, Outgoing: fe.attachMethodRequests}},
			{addrTwin, &amqpserver.Node{Incoming: fe.attachTwinRequests, Outgoing: fe.attachTwinResponses}},
		} {
			if err := srv.Handle(prefix+r.addr, r.node); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkKey reads the identity a link's address names, ids URL-unescaped.
func linkKey(l *amqpserver.Link) (sessions.Key, error) {
	id, err := url.PathUnescape(l.Param("id"))
	if err != nil {
		return sessions.Key{}, &amqpserver.Error{Condition: amqpserver.CondInvalidField, Description: "the device id in the address is not URL-escaped properly"}
	}
	mid, err := url.PathUnescape(l.Param("mid"))
	if err != nil {
		return sessions.Key{}, &amqpserver.Error{Condition: amqpserver.CondInvalidField, Description: "the module id in the address is not URL-escaped properly"}
	}
	return sessions.Key{DeviceID: id, ModuleID: mid}, nil
}

// admit checks a link's attach and joins it to its identity's session on
// the connection: the grant covers the identity, which exists and may
// connect.
func (fe *frontEnd) admit(l *amqpserver.Link) (*identity, error) {
	if fe.hub.Closing() {
		return nil, &amqpserver.Error{Condition: amqpserver.CondConnectionForced, Description: "the emulator is shutting down"}
	}
	key, err := linkKey(l)
	if err != nil {
		return nil, err
	}
	if err := fe.srv.AuthorizeDeviceLink(l); err != nil && !fe.x509(l, key) {
		return nil, err
	}
	if err := fe.hub.CheckCanConnect(key); err != nil {
		return nil, refusal(err)
	}
	return fe.join(l, key), nil
}

// x509 reports whether the link's connection presented the TLS client
// certificate of a selfSigned identity key: how X.509 devices connect,
// with no token (the certificate lasts as long as the connection).
func (fe *frontEnd) x509(l *amqpserver.Link, key sessions.Key) bool {
	if fe.certs == nil {
		return false
	}
	certs := fe.certs(l.Conn().NetConn())
	return len(certs) > 0 && fe.hub.CheckDeviceCertificate(key, certs) == nil
}

// refusal turns why an identity may not connect into the attach's error.
func refusal(err error) *amqpserver.Error {
	cond := amqpserver.CondUnauthorizedAccess
	if errors.Is(err, iothub.ErrDeviceNotFound) || errors.Is(err, iothub.ErrModuleNotFound) {
		cond = amqpserver.CondNotFound
	}
	return &amqpserver.Error{Condition: cond, Description: err.Error()}
}

// join adds l to the identity's state on its connection, connecting the
// identity's session when it is the first link; l leaves when it ends.
// Attaches of one connection come in order (its read goroutine), so two
// first links of an identity never race.
func (fe *frontEnd) join(l *amqpserver.Link, key sessions.Key) *identity {
	c := l.Conn()
	fe.mu.Lock()
	ids := fe.conns[c]
	if ids == nil {
		ids = map[sessions.Key]*identity{}
		fe.conns[c] = ids
	}
	id := ids[key]
	fresh := id == nil
	if fresh {
		id = newIdentity(fe, c, key)
		ids[key] = id
	}
	id.mu.Lock()
	id.links[l] = struct{}{}
	id.mu.Unlock()
	fe.mu.Unlock()
	if fresh {
		// Outside the locks: taking over from another connection closes its
		// identity, which takes them.
		s := fe.hub.Sessions().Connect(key, id)
		id.mu.Lock()
		id.session = s
		gone := id.closed || len(id.links) == 0
		id.mu.Unlock()
		if gone {
			fe.hub.Sessions().Disconnect(s)
		}
	}
	context.AfterFunc(l.Context(), func() { id.leave(l) })
	return id
}

// forget drops id from its connection's identities, if it is still there.
func (fe *frontEnd) forget(id *identity) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	ids := fe.conns[id.conn]
	if ids[id.key] == id {
		delete(ids, id.key)
		if len(ids) == 0 {
			delete(fe.conns, id.conn)
		}
	}
}
