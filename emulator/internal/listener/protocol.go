package listener

import "bytes"

// sniffLen is how many bytes decide the protocol of a connection: the AMQP
// protocol header is 8 bytes long, and an HTTP request line or an MQTT
// CONNECT packet is longer.
const sniffLen = 8

var amqpHeaderPrefix = []byte("AMQP")

// Protocol is what a connection speaks, as its first bytes tell.
type Protocol int

// The protocols the emulator's ports serve.
const (
	// HTTP is anything that is neither AMQP nor MQTT: the HTTP server
	// answers what it cannot parse.
	HTTP Protocol = iota
	// AMQP connections start with the AMQP protocol header.
	AMQP
	// MQTT connections start with a CONNECT packet.
	MQTT
)

// String names the protocol: "HTTP", "AMQP" or "MQTT".
func (p Protocol) String() string {
	switch p {
	case AMQP:
		return "AMQP"
	case MQTT:
		return "MQTT"
	}
	return "HTTP"
}

// sniff tells the protocol from the first bytes of a connection: the AMQP
// protocol header starts "AMQP"; an MQTT connection starts with a CONNECT
// packet, whose first byte is 0x10 (no HTTP request line starts so);
// anything else goes to the HTTP server, which answers what it cannot parse.
func sniff(head []byte) Protocol {
	switch {
	case bytes.HasPrefix(head, amqpHeaderPrefix):
		return AMQP
	case len(head) > 0 && head[0] == 0x10:
		return MQTT
	}
	return HTTP
}
