package emulator

import (
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

// isWebSocketPath reports whether a request is for one of the WebSocket
// endpoints.
func isWebSocketPath(path string) bool {
	return strings.EqualFold(path, wsPathIoTHub) || strings.EqualFold(path, wsPathServiceBus)
}

// serveWebSocket upgrades a request to a WebSocket endpoint and hands the
// connection to the AMQP engine or, for subprotocol mqtt at
// /$iothub/websocket, the MQTT device front end: the same ones the TCP ports
// feed, which authenticate it. A request that is not an upgrade, or offers
// no subprotocol the emulator speaks, is refused before or right after the
// handshake.
func (e *Emulator) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "This endpoint takes WebSocket upgrades (subprotocol "+wsSubprotocolAMQP+") only.", http.StatusUpgradeRequired)
		return
	}
	// A hijacked connection may keep the HTTP server's deadlines
	// (Options.HTTPReadTimeout), which would cut the connection the
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
		e.logger.Debug("emulator: WebSocket upgrade failed", "path", r.URL.Path, "error", err)
		return
	}
	var h *func(net.Conn)
	switch c.Subprotocol() {
	case wsSubprotocolAMQP:
		h = e.amqpHandler.Load()
	case wsSubprotocolMQTT:
		if strings.EqualFold(r.URL.Path, wsPathIoTHub) { // devices connect to the hub, not the Event Hub endpoint
			h = e.mqttHandler.Load()
		}
	}
	if h == nil {
		_ = c.Close(websocket.StatusPolicyViolation, "offer the "+wsSubprotocolAMQP+" subprotocol, or "+wsSubprotocolMQTT+" at "+wsPathIoTHub)
		return
	}
	// The front end owns the connection until it ends; the emulator's base
	// context ends it at Shutdown.
	nc := websocket.NetConn(e.baseCtx, c, websocket.MessageBinary)
	defer nc.Close()
	(*h)(nc)
}
