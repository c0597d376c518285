package emulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/deviceamqp"
	"github.com/iotkit-go/iothub/emulator/internal/devicehttp"
	"github.com/iotkit-go/iothub/emulator/internal/devicemqtt"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
	"github.com/iotkit-go/iothub/emulator/internal/fileupload"
	"github.com/iotkit-go/iothub/emulator/internal/listener"
	"github.com/iotkit-go/iothub/emulator/internal/mqttcore"
	"github.com/iotkit-go/iothub/emulator/internal/serviceamqp"
	"github.com/iotkit-go/iothub/emulator/internal/servicerest"
)

// Options configure an emulator. A nil *Options accepts the defaults.
type Options struct {
	// HubName is the name of the emulated hub; tokens whose resource is
	// <HubName>.azure-devices.net are accepted besides HostName(). Default:
	// "emulator".
	HubName string
	// Addr is the TCP address to listen on. With StandardPorts it is the
	// host or IP address alone, without a port. Default: "127.0.0.1:0" (a
	// free port on the loopback interface); with StandardPorts "localhost"
	// (127.0.0.1 and, where the machine has it, ::1).
	Addr string
	// TLS serves TLS on the port, with a CA and a server certificate
	// (ECDSA P-256, for 127.0.0.1, ::1, localhost, the host name and the
	// address listened on) generated at Start; Client and TLSConfig trust
	// it and CACertPEM returns it. Default: false (plain TCP, and
	// UseDevelopmentEmulator=true in the connection strings).
	TLS bool
	// StandardPorts serves the ports IoT Hub serves, all with TLS (TLS is
	// implied): HTTPS and WebSocket upgrades on 443, AMQPS on 5671 and
	// MQTTS on 8883, and connection strings name HostName without a port.
	// That is what clients that cannot be told a port need: the official
	// SDKs of other languages, which build https://{HostName} and dial 5671,
	// and devices. Ports below 1024 need root or CAP_NET_BIND_SERVICE (see
	// the package documentation). Default: false (one port, Addr, serving
	// every protocol).
	StandardPorts bool
	// HostName is the host name clients use, port-less, in the connection
	// strings and the certificate; it must resolve to Addr. Only with
	// StandardPorts. Default: "localhost".
	HostName string
	// StateDir keeps the hub's state in this directory (created if
	// needed), so that a standalone emulator survives restarts: the
	// registry with modules and twins, the policies and their keys, the
	// consumer groups, the C2D queues with pending feedback and file
	// notifications, the telemetry partitions within retention, and the CA.
	// Every change is answered once it is on disk; a crash loses at most
	// what was being written and never leaves the directory unreadable.
	// One emulator at a time may use a directory, and only for the hub
	// name it was made for. Policies and Devices still apply: a policy
	// without keys keeps its stored ones, a seed device that exists is
	// left as it is. Default: "" (everything in memory, forgotten at Close).
	StateDir string
	// Policies are the hub's shared access policies; keys left empty are
	// generated. Default: DefaultPolicies() with generated keys.
	Policies []Policy
	// Devices are registered at Start. Default: none.
	Devices []DeviceSeed
	// Partitions is the number of partitions of the built-in Event
	// Hub-compatible endpoint (IoT Hub allows 2 to 128). Default: 4.
	Partitions int
	// ConsumerGroups are the endpoint's consumer groups besides $Default,
	// which is always there. Default: none.
	ConsumerGroups []string
	// Logger receives the emulator's diagnostics (never keys or tokens).
	// Default: discard.
	Logger *slog.Logger
	// HTTPReadTimeout bounds the reading of one HTTP request, headers and
	// body: a client that sends too slowly is cut off, as a hosted service
	// cuts it off. It does not bound the answer (a direct method may wait
	// minutes for its device). Default: 30 s.
	HTTPReadTimeout time.Duration
	// HTTPIdleTimeout closes a keep-alive HTTP connection that carries no
	// request for this long. Default: 2 min.
	HTTPIdleTimeout time.Duration
	// FileUpload links a storage account for devices' file uploads.
	// Default: nil (none: devices asking for a SAS get 400014, and
	// SimulatedDevice.UploadFile only notifies).
	FileUpload *FileUploadOptions
}

// Defaults of Options' HTTP time-outs.
const (
	defaultHTTPReadTimeout = 30 * time.Second
	defaultHTTPIdleTimeout = 2 * time.Minute
)

// DeviceSeed is a device registered when the emulator starts.
type DeviceSeed struct {
	// DeviceID is the device's id.
	DeviceID string
	// PrimaryKey and SecondaryKey are its symmetric keys (base64).
	// Default: generated.
	PrimaryKey, SecondaryKey string
	// Disabled registers the device with status disabled. Default: enabled.
	Disabled bool
	// Modules are ids of modules to register on the device, with generated
	// keys. Default: none.
	Modules []string
	// Tags and Desired are the twin's initial tags and desired properties;
	// any JSON-encodable values. Default: none.
	Tags, Desired map[string]any
}

// Emulator is an IoT Hub running in this process, on one TCP port that
// serves the REST API and AMQP (cloud-to-device messages, feedback, file
// notifications and the built-in Event Hub-compatible endpoint). Start one
// per test; it holds everything in memory and forgets it at Close.
type Emulator struct {
	// hub is the hub core: the state and the rules every front end shares.
	hub      *core.Hub
	hostName string
	tls      bool
	logger   *slog.Logger
	// standard is Options.StandardPorts.
	standard bool

	certs  *listener.Certificates
	ports  *listener.Ports
	client *http.Client

	faults faultSet
	reqlog requestLog

	// rest is the service REST front end; mqtt the device front end for
	// MQTT.
	rest *servicerest.Handler
	mqtt *devicemqtt.Server
	// devices is the device HTTPS front end.
	devices *devicehttp.Handler
	// amqp is the service AMQP front end: CBS, C2D queues, feedback,
	// file notifications and the built-in Event Hub endpoint.
	amqp *serviceamqp.Service
	// entra mints and verifies the emulator's Entra ID tokens.
	entra *entra.Authority
	// files are the file uploads into the linked storage; nil without
	// Options.FileUpload.
	files *fileupload.Uploads
	// storageClient reaches the linked storage for simulated devices'
	// uploads; nil uses azcore's default.
	storageClient *http.Client

	closeOnce sync.Once
	closeErr  error
}

// Start starts an emulator listening on opts.Addr. It returns once the
// port is open; Close stops it. ctx bounds the start only.
func Start(ctx context.Context, opts *Options) (*Emulator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.HubName == "" {
		o.HubName = "emulator"
	}
	if o.Addr == "" && !o.StandardPorts {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPReadTimeout <= 0 {
		o.HTTPReadTimeout = defaultHTTPReadTimeout
	}
	if o.HTTPIdleTimeout <= 0 {
		o.HTTPIdleTimeout = defaultHTTPIdleTimeout
	}
	hub, err := core.Open(&core.Options{
		HubName:        o.HubName,
		StateDir:       o.StateDir,
		Policies:       toCorePolicies(o.Policies),
		Devices:        toCoreSeeds(o.Devices),
		DeviceDisabled: ErrDeviceDisabled,
		Logger:         o.Logger,
	})
	if err != nil {
		return nil, err
	}
	e := &Emulator{hub: hub, logger: o.Logger}
	started := false
	defer func() {
		if !started {
			if e.ports != nil {
				e.ports.Close()
			}
			_ = hub.Close()
		}
	}()
	if e.entra, err = entra.NewAuthority(); err != nil {
		return nil, err
	}
	if e.files, err = e.newFileUploads(hub, o.FileUpload); err != nil {
		return nil, err
	}

	if o.StandardPorts {
		o.TLS = true
		if o.HostName == "" {
			o.HostName = defaultStandardHost
		}
	} else if o.HostName != "" {
		return nil, errors.New("emulator: HostName is only for StandardPorts; in single-port mode the host name is the address listened on")
	}
	e.tls, e.standard = o.TLS, o.StandardPorts
	e.ports, err = listener.Listen(ctx, &listener.Options{Addr: o.Addr, StandardPorts: o.StandardPorts, Logger: e.logger})
	if err != nil {
		return nil, err
	}
	addrs := e.ports.Addrs()
	certHosts := []string{}
	if o.StandardPorts {
		e.hostName = o.HostName
		certHosts = append(certHosts, o.HostName)
	} else {
		e.hostName = listener.DialableHost(addrs[0])
	}
	for _, a := range addrs {
		host, _, _ := net.SplitHostPort(a.String())
		certHosts = append(certHosts, host)
	}
	hub.SetHostName(e.hostName, e.standard)
	var serverTLS *tls.Config
	transport := &http.Transport{ForceAttemptHTTP2: false, MaxIdleConnsPerHost: 16}
	if o.TLS {
		var keeper listener.CAKeeper
		if hub.Persistent() {
			keeper = hub
		}
		ca, err := listener.RestoreCA(keeper, o.HubName, e.logger)
		if err == nil {
			e.certs, err = listener.NewCertificates(o.HubName, ca, certHosts...)
		}
		if err != nil {
			return nil, err
		}
		serverTLS = e.certs.ServerConfig()
		transport.TLSClientConfig = e.certs.ClientConfig()
	}
	if o.StandardPorts {
		// Every address listened on answers for the host name, whatever
		// it resolves to on this machine.
		dialer := &net.Dialer{}
		target, _, _ := net.SplitHostPort(addrs[0].String())
		transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && hub.NamesThisHub(host) {
				addr = net.JoinHostPort(target, port)
			}
			return dialer.DialContext(ctx, network, addr)
		}
	}
	e.client = &http.Client{Transport: transport}
	e.rest = servicerest.New(hub, &servicerest.Options{
		Logger: e.logger,
		Log:    e.logRequest,
		Fault:  e.takeFault,
		Bearer: e.verifyBearer,
	})
	e.amqp, err = serviceamqp.Start(hub, &serviceamqp.Options{
		Partitions:     o.Partitions,
		ConsumerGroups: o.ConsumerGroups,
		TLS:            e.tls,
		VerifyJWT:      e.verifyJWT,
		Logger:         e.logger,
	})
	if err != nil {
		return nil, err
	}
	if err := deviceamqp.Register(e.amqp, hub, &deviceamqp.Options{Logger: e.logger, PeerCertificates: listener.PeerCertificates}); err != nil {
		return nil, err
	}
	e.ports.Handle(listener.AMQP, func(c net.Conn) { _ = e.amqp.ServeConn(hub.BaseContext(), c) })
	// A nil *fileupload.Uploads answers as a hub without linked storage.
	e.devices = devicehttp.New(hub, &devicehttp.Options{Logger: e.logger, Files: e.files, PeerCertificates: listener.RequestPeerCertificates, RawHeader: listener.RequestHeaderBlock})
	e.mqtt = devicemqtt.NewServer(mqttcore.New(hub), &devicemqtt.Options{Logger: e.logger, Now: hub.Now})
	e.ports.Handle(listener.MQTT, func(c net.Conn) {
		_ = e.mqtt.ServeConn(hub.BaseContext(), c, listener.PeerCertificates(c))
	})
	e.ports.Serve(serverTLS, e, &listener.HTTPOptions{ReadTimeout: o.HTTPReadTimeout, IdleTimeout: o.HTTPIdleTimeout})
	e.logger.Info("emulator: started", "hub", hub.HubName(), "host", e.HostName(), "tls", e.tls, "state", hub.StatePath())
	started = true
	return e, nil
}

// toCoreSeeds converts Options.Devices for the hub core.
func toCoreSeeds(seeds []DeviceSeed) []core.Seed {
	out := make([]core.Seed, len(seeds))
	for i, d := range seeds {
		out[i] = core.Seed{
			DeviceID: d.DeviceID, PrimaryKey: d.PrimaryKey, SecondaryKey: d.SecondaryKey,
			Disabled: d.Disabled, Modules: d.Modules, Tags: d.Tags, Desired: d.Desired,
		}
	}
	return out
}

// HostName returns the host and port clients connect to, e.g.
// "127.0.0.1:41234" (the HostName of connection strings). When the
// emulator listens on all interfaces, it names the loopback address. With
// Options.StandardPorts it is Options.HostName, without a port.
func (e *Emulator) HostName() string {
	return e.hostName
}

// ListenAddrs returns the addresses the emulator listens on: one in
// single-port mode; with Options.StandardPorts ports 443, 5671 and 8883 on
// each address listened on.
func (e *Emulator) ListenAddrs() []net.Addr {
	return e.ports.Addrs()
}

// HubName returns the name of the emulated hub.
func (e *Emulator) HubName() string { return e.hub.HubName() }

// URL returns the base URL of the REST API, e.g. "http://127.0.0.1:41234"
// or "https://127.0.0.1:41234".
func (e *Emulator) URL() string {
	if e.tls {
		return "https://" + e.HostName()
	}
	return "http://" + e.HostName()
}

// ConnectionString returns a connection string for the iothubowner policy
// (or, when Options.Policies has none by that name, the first policy).
// Without TLS it ends in ";UseDevelopmentEmulator=true", which tells the
// SDK's clients to use plain TCP.
func (e *Emulator) ConnectionString() string {
	p, ok := e.policy("iothubowner")
	if !ok {
		p = fromCorePolicy(e.hub.Policies()[0])
	}
	return e.connectionString(p)
}

// PolicyConnectionString returns the connection string of the named
// shared access policy, or an error if there is no such policy.
func (e *Emulator) PolicyConnectionString(name string) (string, error) {
	p, ok := e.policy(name)
	if !ok {
		return "", fmt.Errorf("emulator: no shared access policy is named %q", name)
	}
	return e.connectionString(p), nil
}

func (e *Emulator) connectionString(p Policy) string {
	s := "HostName=" + e.HostName() + ";SharedAccessKeyName=" + p.Name + ";SharedAccessKey=" + p.PrimaryKey
	if !e.tls {
		s += ";UseDevelopmentEmulator=true"
	}
	return s
}

// ConnectionCount returns how many TCP connections the emulator has
// accepted since Start, whatever their protocol: tests use it to check
// that a client reuses its connections.
func (e *Emulator) ConnectionCount() int64 {
	return e.ports.Accepted()
}

// Policies returns the hub's shared access policies, keys included.
func (e *Emulator) Policies() []Policy {
	policies := e.hub.Policies()
	out := make([]Policy, len(policies))
	for i, p := range policies {
		out[i] = fromCorePolicy(p)
	}
	return out
}

// String describes the emulator without its keys.
func (e *Emulator) String() string {
	return fmt.Sprintf("emulator.Emulator{Hub: %q, HostName: %q, TLS: %t, StateDir: %q}", e.hub.HubName(), e.hostName, e.tls, e.hub.StatePath())
}

// Format implements [fmt.Formatter] so that every verb prints
// [Emulator.String], never a key.
func (e *Emulator) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(e.String())) }

// Client returns an HTTP client for the emulator: with TLS it trusts the
// emulator's CA. Close closes its idle connections.
func (e *Emulator) Client() *http.Client { return e.client }

// TLSConfig returns a client TLS configuration that trusts the emulator's
// CA, or nil when the emulator serves plain TCP.
func (e *Emulator) TLSConfig() *tls.Config {
	if e.certs == nil {
		return nil
	}
	return e.certs.ClientConfig()
}

// CACertPEM returns the emulator's CA certificate in PEM form, for clients
// in other processes or languages to trust; nil without TLS.
func (e *Emulator) CACertPEM() []byte {
	if e.certs == nil {
		return nil
	}
	return e.certs.CAPEM()
}

// Shutdown stops the emulator: it disconnects the simulated devices (with
// ErrEmulatorClosed), ends the direct-method calls waiting for a device
// (503001), stops accepting connections, waits for the requests in flight
// to finish (or ctx to end) and closes every connection. It returns ctx's
// error if ctx ended first.
func (e *Emulator) Shutdown(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.hub.Stop(ErrEmulatorClosed)
		var errs []error
		if err := e.ports.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		e.mqtt.Close()
		e.amqp.Close()
		e.hub.CloseMessaging()
		e.ports.Close()
		// Everything that writes has stopped: what is pending is committed.
		if err := e.hub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("emulator: closing the state directory: %w", err))
		}
		if t, ok := e.client.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
		e.closeErr = errors.Join(errs...)
		e.logger.Info("emulator: stopped", "hub", e.hub.HubName())
	})
	return e.closeErr
}

// Close stops the emulator, waiting for the requests in flight. It is
// Shutdown without a deadline.
func (e *Emulator) Close() {
	_ = e.Shutdown(context.Background())
}
