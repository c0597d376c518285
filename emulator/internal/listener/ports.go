package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The ports IoT Hub serves, which Options.StandardPorts listens on.
const (
	PortHTTPS = 443  // HTTPS, and AMQP or MQTT over WebSockets
	PortAMQPS = 5671 // AMQP over TLS
	PortMQTTS = 8883 // MQTT over TLS
)

// Options say where to listen. A nil *Options listens on a free port of
// the loopback interface.
type Options struct {
	// Addr is the TCP address to listen on; with StandardPorts the host or
	// IP address alone, without a port. Default: "127.0.0.1:0"; with
	// StandardPorts both loopback addresses.
	Addr string
	// StandardPorts listens on 443 (HTTP), 5671 (AMQP) and 8883 (MQTT) on
	// each address Addr stands for, instead of one port serving every
	// protocol. Default: false.
	StandardPorts bool
	// Logger receives diagnostics (never a byte of what connections carry).
	// Default: discard.
	Logger *slog.Logger
}

// HTTPOptions configure the HTTP server of the ports. A nil *HTTPOptions
// sets no time-outs.
type HTTPOptions struct {
	// ReadTimeout bounds the reading of one request, headers and body; the
	// headers alone get at most 10 s of it. Default: none.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle for this long.
	// Default: none.
	IdleTimeout time.Duration
}

// boundPort is one listening socket and the protocols it serves.
type boundPort struct {
	ln     net.Listener
	serves []Protocol // empty: every protocol (single-port mode)
}

// Ports are the emulator's listening sockets and what serves them: each
// connection's first bytes (after the TLS handshake, when there is TLS)
// choose the handler of its protocol, or the HTTP server, which every port
// shares. Handlers may be set before or after Serve.
type Ports struct {
	logger *slog.Logger
	bound  []boundPort

	// handlers serve AMQP and MQTT; a nil handler refuses its protocol.
	handlers map[Protocol]*atomic.Pointer[func(net.Conn)]

	// Set by Serve.
	muxes      []*muxListener
	httpServer *http.Server
	serveDone  chan struct{} // closed when the HTTP server stops serving
}

// Listen opens the sockets: Addr alone in single-port mode; in
// standard-ports mode 443, 5671 and 8883 on each address Addr's host stands
// for. On failure it closes what it opened. Nothing is accepted before
// Serve.
func Listen(ctx context.Context, opts *Options) (*Ports, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Addr == "" && !o.StandardPorts {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	bound, err := listen(ctx, &o)
	if err != nil {
		return nil, err
	}
	p := &Ports{
		logger: o.Logger,
		bound:  bound,
		handlers: map[Protocol]*atomic.Pointer[func(net.Conn)]{
			AMQP: new(atomic.Pointer[func(net.Conn)]),
			MQTT: new(atomic.Pointer[func(net.Conn)]),
		},
	}
	return p, nil
}

// listen opens the sockets Listen describes.
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
		serves []Protocol
	}{
		{PortHTTPS, []Protocol{HTTP}},
		{PortAMQPS, []Protocol{AMQP}},
		{PortMQTTS, []Protocol{MQTT}},
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

// DialableHost turns a listening address into one a client can dial.
func DialableHost(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // Go's "tcp" listeners on :: are dual-stack
	}
	return net.JoinHostPort(host, port)
}

// Addrs returns the addresses listened on: one in single-port mode; with
// StandardPorts ports 443, 5671 and 8883 on each address.
func (p *Ports) Addrs() []net.Addr {
	addrs := make([]net.Addr, len(p.bound))
	for i, b := range p.bound {
		addrs[i] = b.ln.Addr()
	}
	return addrs
}

// Handle sets the handler of proto's connections (AMQP or MQTT; HTTP goes
// to the handler given to Serve); nil refuses them. The handler owns the
// connection until it returns, and the ports close it then.
func (p *Ports) Handle(proto Protocol, h func(net.Conn)) {
	ptr := p.handlers[proto]
	if ptr == nil {
		return
	}
	if h == nil {
		ptr.Store(nil)
		return
	}
	ptr.Store(&h)
}

// handler returns proto's handler, or nil.
func (p *Ports) handler(proto Protocol) *func(net.Conn) {
	if ptr := p.handlers[proto]; ptr != nil {
		return ptr.Load()
	}
	return nil
}

// Serve starts accepting on every port, with TLS when tlsConfig is not
// nil, and serves HTTP connections with handler. Call it once.
func (p *Ports) Serve(tlsConfig *tls.Config, handler http.Handler, opts *HTTPOptions) {
	var o HTTPOptions
	if opts != nil {
		o = *opts
	}
	httpLn := newChanListener(p.bound[0].ln.Addr())
	for _, b := range p.bound {
		p.muxes = append(p.muxes, newMuxListener(b.ln, tlsConfig, b.serves, p.handlers, httpLn, p.logger))
	}
	header := 10 * time.Second
	if o.ReadTimeout > 0 {
		header = min(header, o.ReadTimeout)
	}
	p.httpServer = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: header,
		ReadTimeout:       o.ReadTimeout,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug),
		// The server sees the ports' wrapped connections, not *tls.Conn,
		// so it leaves Request.TLS nil: the connection goes into each
		// request's context instead, for a WebSocket upgrade to find the
		// client certificates under it.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	p.serveDone = make(chan struct{})
	for _, m := range p.muxes {
		m.wg.Add(1)
		go m.serve()
	}
	go func() {
		defer close(p.serveDone)
		_ = p.httpServer.Serve(httpLn)
	}()
}

// Accepted returns how many connections the ports have accepted since
// Serve, whatever their protocol.
func (p *Ports) Accepted() int64 {
	var n int64
	for _, m := range p.muxes {
		n += m.accepted.Load()
	}
	return n
}

// Shutdown stops accepting and shuts the HTTP server down: it waits for
// the requests in flight (or ctx to end, when it closes their
// connections). Connections handed to the AMQP and MQTT handlers live on
// until Close.
func (p *Ports) Shutdown(ctx context.Context) error {
	var errs []error
	for _, b := range p.bound {
		if err := b.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if p.httpServer != nil {
		if err := p.httpServer.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = p.httpServer.Close()
		}
	}
	return errors.Join(errs...)
}

// Close closes the sockets and the connections that are being sniffed or
// served by a handler, and waits for their goroutines and for the HTTP
// server to stop. It also undoes a Listen that was never served.
func (p *Ports) Close() {
	if p.muxes == nil {
		for _, b := range p.bound {
			_ = b.ln.Close()
		}
		return
	}
	for _, m := range p.muxes {
		_ = m.close()
	}
	<-p.serveDone
}
