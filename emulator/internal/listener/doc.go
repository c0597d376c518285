// Package listener is the emulator's port plumbing: the sockets it listens
// on (one port for everything, or IoT Hub's standard ports 443, 5671 and
// 8883), the protocol sniffing that sends each connection to the HTTP
// server, the AMQP handler or the MQTT handler by its first bytes, TLS with
// a CA of the emulator's own (kept across restarts through a CAKeeper), and
// the WebSocket upgrades that carry AMQP and MQTT over HTTPS.
//
// It knows nothing of the hub: the handlers it feeds are the front ends,
// which the emulator's root package gives it. It depends on the standard
// library and github.com/coder/websocket only.
package listener
