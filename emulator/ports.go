package emulator

import (
	"net"
	"strconv"
	"strings"
)

// The ports IoT Hub serves, which Options.StandardPorts listens on.
const (
	PortHTTPS = 443  // HTTPS, and AMQP or MQTT over WebSockets
	PortAMQPS = 5671 // AMQP over TLS
	PortMQTTS = 8883 // MQTT over TLS
)

// defaultStandardHost is the host name of a standard-ports emulator when
// Options.HostName is empty.
const defaultStandardHost = "localhost"

// hostAliases are the names, lower-case, by which clients reach this hub
// and which token audiences may therefore name: the host name of the
// connection strings, with and without its port, localhost on the same
// port, and <hub>.azure-devices.net; in standard-ports mode also the host
// name with each standard port written out.
func hostAliases(hubName, hostName string, standard bool) map[string]bool {
	set := map[string]bool{}
	add := func(h string) { set[strings.ToLower(h)] = true }
	add(hubName + ".azure-devices.net")
	add(hostName)
	host, port, err := net.SplitHostPort(hostName)
	if err != nil {
		host, port = strings.Trim(hostName, "[]"), ""
	}
	add(host)
	if port != "" {
		add(net.JoinHostPort("localhost", port))
	}
	if standard {
		for _, p := range []int{PortHTTPS, PortAMQPS, PortMQTTS} {
			add(net.JoinHostPort(host, strconv.Itoa(p)))
		}
	}
	return set
}

// namesThisHub reports whether host (as a token's resource or a client's
// Host header writes it) is one of the hub's names.
func (e *Emulator) namesThisHub(host string) bool {
	return host != "" && e.aliases[strings.ToLower(host)]
}
