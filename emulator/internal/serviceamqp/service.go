package serviceamqp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/cbs"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
)

// portAMQPS is the port IoT Hub serves AMQP over TLS on, which the
// redirect to the Event Hub-compatible endpoint names in standard-ports
// mode.
const portAMQPS = 5671

// Options configure the service AMQP front end. A nil *Options accepts the
// defaults.
type Options struct {
	// Partitions is the number of partitions of the built-in Event
	// Hub-compatible endpoint. Default: 4.
	Partitions int
	// ConsumerGroups are the endpoint's consumer groups besides $Default.
	// Default: none.
	ConsumerGroups []string
	// TLS tells that the AMQP port serves TLS, so that the redirect to the
	// endpoint names amqps://. Default: false (amqp://).
	TLS bool
	// VerifyJWT checks a Microsoft Entra ID token put on $cbs (type jwt)
	// and returns what it grants. Default: nil (jwt tokens are refused).
	VerifyJWT func(token string) (entra.Grant, error)
	// Logger receives the AMQP engine's diagnostics. Default: discard.
	Logger *slog.Logger
}

// Service is the hub's service AMQP side: the AMQP engine, the
// claims-based security on it, and the nodes it serves over the hub core:
// $cbs, the C2D queues with feedback and file notifications, and the
// built-in Event Hub-compatible endpoint.
type Service struct {
	hub    *core.Hub
	opts   Options
	server *amqpserver.Server
	cbs    *cbs.Authority
}

// Start builds the AMQP side of hub once its host name is known: it opens
// the hub's messaging (the C2D queues and the endpoint's partitions) and
// registers the nodes. Connections come through ServeConn.
func Start(hub *core.Hub, opts *Options) (*Service, error) {
	s := &Service{hub: hub}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Logger == nil {
		s.opts.Logger = slog.New(slog.DiscardHandler)
	}
	s.server = amqpserver.NewServer(&amqpserver.ServerOptions{
		ContainerID: hub.HubName(),
		SASLPlain:   s.saslPlain,
		Logger:      s.opts.Logger,
	})
	s.cbs = cbs.New(cbs.Options{Verify: s.verifyCBSToken, Now: hub.Now, IsHost: hub.NamesThisHub})
	// The redirect names the host of the connection strings, and the port
	// that serves AMQP: the one port, or 5671.
	host, port := hub.HostName(), portAMQPS
	if !hub.StandardPorts() {
		h, portText, _ := net.SplitHostPort(hub.HostName())
		host = h
		port, _ = strconv.Atoi(portText)
	}
	err := hub.OpenMessaging(eventhubs.Options{
		Partitions:     s.opts.Partitions,
		ConsumerGroups: s.opts.ConsumerGroups,
		AdvertiseHost:  host,
		AdvertisePort:  port,
		AdvertisePlain: !s.opts.TLS,
		Authorize: func(conn *amqpserver.Conn, address string) error {
			return s.cbs.Authorize(conn, address, cbs.ServiceConnect)
		},
		// Receivers are watched: one whose token lapses is detached.
		AuthorizeLink: func(l *amqpserver.Link) error { return s.cbs.AuthorizeLink(l, cbs.ServiceConnect) },
	})
	if err != nil {
		_ = s.server.Close()
		return nil, err
	}
	// C2D, feedback and file notifications take a policy with ServiceConnect,
	// or an Entra ID token with each node's data action.
	serviceLink := func(l *amqpserver.Link) error { return s.cbs.AuthorizeLink(l, serviceLinkNeed(l.Address())) }
	for _, err := range []error{
		s.server.Handle("$cbs", s.cbs.Node()),
		hub.C2D().Register(s.server, serviceLink),
		hub.Events().Register(s.server),
	} {
		if err != nil {
			s.Close()
			hub.CloseMessaging()
			return nil, fmt.Errorf("emulator: AMQP nodes: %w", err)
		}
	}
	return s, nil
}

// Handle serves the addresses pattern matches with n, on the same AMQP
// engine (and the same claims-based security) as the service's nodes: how
// the device AMQP front end adds its links.
func (s *Service) Handle(pattern string, n *amqpserver.Node) error {
	return s.server.Handle(pattern, n)
}

// AuthorizeDeviceLink checks that the link's connection holds a live grant
// with DeviceConnect over the link's address (a device's own token, or a
// policy's with DeviceConnect), and watches it: the link is detached with
// amqp:unauthorized-access once no renewed token covers it.
func (s *Service) AuthorizeDeviceLink(l *amqpserver.Link) error {
	return s.cbs.AuthorizeLink(l, cbs.DeviceConnect)
}

// ServeConn serves one AMQP connection until it closes, ctx ends or the
// service is closed.
func (s *Service) ServeConn(ctx context.Context, c net.Conn) error {
	return s.server.ServeConn(ctx, c)
}

// Close closes the AMQP engine and every connection; the hub's messaging
// stays open (the hub core closes it).
func (s *Service) Close() {
	_ = s.server.Close()
}

// DropConnections closes every AMQP connection, as a network failure or a
// hub failover would, and returns how many it closed.
func (s *Service) DropConnections() int {
	conns := s.server.Conns()
	for _, c := range conns {
		c.Close(&amqpserver.Error{Condition: amqpserver.CondConnectionForced, Description: "connection dropped by the emulator's fault injection"})
	}
	return len(conns)
}

// LimitTokenLifetime makes every CBS token put from now on count for at
// most d, whatever its own expiry; zero lifts the limit.
func (s *Service) LimitTokenLifetime(d time.Duration) {
	s.cbs.SetMaxLifetime(d)
}
