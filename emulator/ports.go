package emulator

// The ports IoT Hub serves, which Options.StandardPorts listens on.
const (
	PortHTTPS = 443  // HTTPS, and AMQP or MQTT over WebSockets
	PortAMQPS = 5671 // AMQP over TLS
	PortMQTTS = 8883 // MQTT over TLS
)

// defaultStandardHost is the host name of a standard-ports emulator when
// Options.HostName is empty.
const defaultStandardHost = "localhost"
