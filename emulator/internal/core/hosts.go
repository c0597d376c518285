package core

import (
	"net"
	"strconv"
	"strings"
)

// standardPorts are the ports IoT Hub serves (HTTPS, AMQPS, MQTTS), which a
// standard-ports emulator listens on.
var standardPorts = []int{443, 5671, 8883}

// SetHostName records the host name of the connection strings (with its
// port in single-port mode) and whether the standard ports serve it, which
// decide the names token audiences may use. Start calls it once, when the
// ports are open and before anything is served.
func (h *Hub) SetHostName(hostName string, standard bool) {
	h.hostName, h.standard = hostName, standard
	h.aliases = hostAliases(h.hubName, hostName, standard)
}

// HostName returns the host name of the connection strings.
func (h *Hub) HostName() string { return h.hostName }

// StandardPorts reports whether the hub serves the standard ports.
func (h *Hub) StandardPorts() bool { return h.standard }

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
		for _, p := range standardPorts {
			add(net.JoinHostPort(host, strconv.Itoa(p)))
		}
	}
	return set
}

// NamesThisHub reports whether host (as a token's resource or a client's
// Host header writes it) is one of the hub's names.
func (h *Hub) NamesThisHub(host string) bool {
	return host != "" && h.aliases[strings.ToLower(host)]
}
