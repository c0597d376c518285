package listener

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// The paths where IoT Hub accepts WebSocket upgrades: /$iothub/websocket on
// the hub's host (AMQP for services and devices, MQTT for devices), and
// /$servicebus/websocket on the Event Hub-compatible endpoint. Both are
// served on every HTTP port of the emulator, as the endpoint shares its
// host.
const (
	wsPathIoTHub     = "/$iothub/websocket"
	wsPathServiceBus = "/$servicebus/websocket"
)

// The WebSocket subprotocols the endpoints speak: AMQP 1.0 (the OASIS AMQP
// WebSocket Binding) and MQTT, which the official SDKs offer.
const (
	wsSubprotocolAMQP = "AMQPWSB10"
	wsSubprotocolMQTT = "mqtt"
)

// IsWebSocketPath reports whether a request is for one of the WebSocket
// endpoints.
func IsWebSocketPath(path string) bool {
	return strings.EqualFold(path, wsPathIoTHub) || strings.EqualFold(path, wsPathServiceBus)
}

// ServeWebSocket upgrades a request to a WebSocket endpoint and hands the
// connection to the AMQP handler or, for subprotocol mqtt at
// /$iothub/websocket, the MQTT handler: the same ones the TCP ports feed,
// which authenticate it. A request that is not an upgrade, or offers no
// subprotocol the emulator speaks, is refused before or right after the
// handshake. ctx ends the connection (the emulator's base context, which
// ends at shutdown).
func (p *Ports) ServeWebSocket(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "This endpoint takes WebSocket upgrades (subprotocol "+wsSubprotocolAMQP+") only.", http.StatusUpgradeRequired)
		return
	}
	// A hijacked connection may keep the HTTP server's deadlines
	// (HTTPOptions.ReadTimeout), which would cut the connection the
	// upgrade carries: clear them.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{wsSubprotocolAMQP, wsSubprotocolMQTT},
		// Device and service clients are not browsers: they send no
		// Origin, or one that names nothing a browser would guard.
		InsecureSkipVerify: true,
	})
	if err != nil {
		p.logger.Debug("emulator: WebSocket upgrade failed", "path", r.URL.Path, "error", err)
		return
	}
	var h *func(net.Conn)
	switch c.Subprotocol() {
	case wsSubprotocolAMQP:
		h = p.handler(AMQP)
	case wsSubprotocolMQTT:
		if strings.EqualFold(r.URL.Path, wsPathIoTHub) { // devices connect to the hub, not the Event Hub endpoint
			h = p.handler(MQTT)
		}
	}
	if h == nil {
		_ = c.Close(websocket.StatusPolicyViolation, "offer the "+wsSubprotocolAMQP+" subprotocol, or "+wsSubprotocolMQTT+" at "+wsPathIoTHub)
		return
	}
	// The front end owns the connection until it ends; ctx ends it at
	// shutdown.
	var nc net.Conn = websocket.NetConn(ctx, c, websocket.MessageBinary)
	defer nc.Close()
	if hc, ok := r.Context().Value(connKey{}).(*headerConn); ok {
		hc.stop() // not HTTP any more
	}
	if under, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		if peers := PeerCertificates(under); len(peers) > 0 {
			nc = &certConn{Conn: nc, peers: peers}
		}
	}
	(*h)(nc)
}

// RequestPeerCertificates returns the client certificates of the TLS
// connection an HTTP request the ports served came on; nil otherwise.
// (The HTTP server sees the connection after sniffing, not as a *tls.Conn,
// so Request.TLS is not set.)
func RequestPeerCertificates(r *http.Request) []*x509.Certificate {
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		return PeerCertificates(c)
	}
	return nil
}

// connKey is the request context key of the connection a request came on.
type connKey struct{}

// certConn is a connection carried by a WebSocket whose TLS connection
// presented client certificates; PeerCertificates finds them.
type certConn struct {
	net.Conn
	peers []*x509.Certificate
}
