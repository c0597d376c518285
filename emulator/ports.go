package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
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

// boundPort is one listening socket and the protocols it serves.
type boundPort struct {
	ln     net.Listener
	serves []protocol // empty: every protocol (single-port mode)
}

// listen opens the emulator's sockets: Addr alone in single-port mode; in
// standard-ports mode 443, 5671 and 8883 on each address Addr's host
// stands for. On failure it closes what it opened.
func listen(ctx context.Context, o *Options) ([]boundPort, error) {
	var lc net.ListenConfig
	if !o.StandardPorts {
		ln, err := lc.Listen(ctx, "tcp", o.Addr)
		if err != nil {
			return nil, fmt.Errorf("emulator: listen on %s: %w", o.Addr, explainListen(err))
		}
		return []boundPort{{ln: ln}}, nil
	}
	hosts, err := standardBindHosts(o.Addr)
	if err != nil {
		return nil, err
	}
	var bound []boundPort
	closeAll := func() {
		for _, b := range bound {
			_ = b.ln.Close()
		}
	}
	ports := []struct {
		port   int
		serves []protocol
	}{
		{PortHTTPS, []protocol{protoHTTP}},
		{PortAMQPS, []protocol{protoAMQP}},
		{PortMQTTS, []protocol{protoMQTT}},
	}
	for i, host := range hosts {
		for _, p := range ports {
			addr := net.JoinHostPort(host, strconv.Itoa(p.port))
			ln, err := lc.Listen(ctx, "tcp", addr)
			if err != nil {
				// "localhost" stands for ::1 too, where the machine has
				// it; a machine without IPv6 loopback serves 127.0.0.1.
				if i > 0 && o.Addr == "" && isUnavailableAddr(err) {
					break
				}
				closeAll()
				return nil, fmt.Errorf("emulator: listen on %s: %w", addr, explainListen(err))
			}
			bound = append(bound, boundPort{ln: ln, serves: p.serves})
		}
	}
	return bound, nil
}

// standardBindHosts reads Options.Addr in standard-ports mode: a host or IP
// address without a port. Empty (the default) or "localhost" stands for
// both loopback addresses, as clients that resolve localhost may try
// either.
func standardBindHosts(addr string) ([]string, error) {
	host := addr
	if h, port, err := net.SplitHostPort(addr); err == nil {
		if port != "" && port != "0" {
			return nil, fmt.Errorf("emulator: with StandardPorts, Addr is the address to listen on without a port (the ports are %d, %d and %d), not %q", PortHTTPS, PortAMQPS, PortMQTTS, addr)
		}
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "" || strings.EqualFold(host, "localhost") {
		return []string{"127.0.0.1", "::1"}, nil
	}
	return []string{host}, nil
}

// explainListen adds to a refused listen what to do about it.
func explainListen(err error) error {
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability: "+
			"sudo setcap cap_net_bind_service=+ep <binary>, or sudo sysctl net.ipv4.ip_unprivileged_port_start=443)", err)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w (another process, or another emulator, listens there)", err)
	}
	return err
}

func isUnavailableAddr(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)
}

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
