package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/registry"
)

// simTokenLifetime is how long the tokens of simulated devices live; a
// reconnect signs a new one.
const simTokenLifetime = 24 * time.Hour

func simulateCommand(g *globals) *cobra.Command {
	var (
		devices   int
		prefix    string
		deviceCS  []string
		rate      string
		tmpl      string
		methods   []string
		count     int
		certs     []string
		keys      []string
		transport string
	)
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Play devices over MQTT, AMQP or HTTPS against any hub: telemetry, direct methods, C2D, twins",
		Long: `Connect devices to a hub (the emulator or a real one) and play them:
each sends telemetry at --rate from --template, answers every direct method
(echo, or as --method says), completes C2D messages and reports every desired
property back as reported. --transport mqtt (the default) reconnects by
itself; amqp and https devices end at the first lost connection. Over https,
IoT Hub's device API has no direct methods or twins: devices send telemetry
and poll for C2D messages every second. Devices are created with the service connection
string (--devices N, named --prefix000…; existing ones are reused), or given
with --device-connection-string (repeatable). An X.509 device (x509=true in
its connection string) connects with the certificate and key of --cert and
--key, given once for each such device, in the same order. A summary line
shows what they did; Ctrl-C stops.

Template placeholders: {{seq}} (the message's number), {{now}} (RFC 3339
time), {{rand A B}} (a random number in [A, B), integers if both are).`,
		Example: `  iothub simulate --devices 10 --rate 2/s
  iothub simulate --device-connection-string "$DEVICE_CS" --method reboot=202:'{"rebooting":true}'
  iothub simulate --devices 3 --template '{"temp":{{rand 20 30}},"seq":{{seq}},"at":"{{now}}"}'
  iothub simulate --device-connection-string "HostName=…;DeviceId=cam-1;x509=true" --cert cam-1.pem --key cam-1.key
  iothub simulate --devices 5 --transport amqp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch transport {
			case transportMQTT, transportAMQP, transportHTTPS:
			default:
				return fmt.Errorf("--transport %q: use mqtt, amqp or https", transport)
			}
			interval, err := parseRate(rate)
			if err != nil {
				return err
			}
			body, err := newTemplate(tmpl)
			if err != nil {
				return err
			}
			answers, err := parseMethodAnswers(methods)
			if err != nil {
				return err
			}
			ids, err := simulatedIdentities(cmd.Context(), g, deviceCS, devices, prefix)
			if err != nil {
				return err
			}
			clientCerts, err := pairCertificates(ids, certs, keys)
			if err != nil {
				return err
			}
			tc, err := g.tlsConfig()
			if err != nil {
				return err
			}
			var st simStats
			sim := &simulator{interval: interval, body: body, answers: answers, count: count, stats: &st, tls: tc, transport: transport}
			var wg sync.WaitGroup
			errs := make(chan error, len(ids))
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			for i, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := sim.run(ctx, id, clientCerts[i]); err != nil {
						errs <- fmt.Errorf("device %s: %w", id.DeviceID, err)
						cancel()
					}
				}()
			}
			fmt.Fprintf(g.env.stderr, "simulating %d devices on %s over %s (Ctrl-C to stop)\n", len(ids), ids[0].HostName, transport)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			report(ctx, g.env.stderr, &st, done)
			close(errs)
			if err := <-errs; err != nil {
				return err
			}
			fmt.Fprintln(g.env.stdout, st.line())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&devices, "devices", 1, "how many devices to create (or reuse) with the service connection string")
	f.StringVar(&prefix, "prefix", "sim-", "the ids of created devices: <prefix>000, <prefix>001…")
	f.StringArrayVar(&deviceCS, "device-connection-string", nil, "play this device instead (repeatable)")
	f.StringVar(&rate, "rate", "1/s", "telemetry per device: N/s, N/m or N/h (0 for none)")
	f.StringVar(&tmpl, "template", `{"seq":{{seq}},"temperature":{{rand 20 30}},"at":"{{now}}"}`, "the telemetry body")
	f.StringArrayVar(&methods, "method", nil, "answer method name with status and JSON: name=status:json (repeatable; others are echoed with 200)")
	f.IntVar(&count, "count", 0, "stop after this many messages per device (0: until interrupted)")
	f.StringArrayVar(&certs, "cert", nil, "the client certificate (PEM) of an x509=true device (repeatable, in their order)")
	f.StringArrayVar(&keys, "key", nil, "the private key (PEM) of the --cert at the same place (repeatable)")
	f.StringVar(&transport, "transport", transportMQTT, "how devices connect: mqtt, amqp or https")
	return cmd
}

// parseRate reads "N/s", "N/m", "N/h" into the interval between messages;
// 0 means no telemetry.
func parseRate(s string) (time.Duration, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	v, err := strconv.ParseFloat(n, 64)
	if !ok || per == 0 || err != nil || v < 0 {
		return 0, fmt.Errorf("--rate %q: use N/s, N/m or N/h, such as 2/s", s)
	}
	if v == 0 {
		return 0, nil
	}
	return time.Duration(float64(per) / v), nil
}

// simAnswer is how a simulated device answers a method.
type simAnswer struct {
	status  int
	payload json.RawMessage
}

func parseMethodAnswers(specs []string) (map[string]simAnswer, error) {
	out := map[string]simAnswer{}
	for _, s := range specs {
		name, rest, ok := strings.Cut(s, "=")
		statusText, payload, ok2 := strings.Cut(rest, ":")
		status, err := strconv.Atoi(statusText)
		if !ok || !ok2 || name == "" || err != nil {
			return nil, fmt.Errorf("--method %q: use name=status:json, such as reboot=202:{\"ok\":true}", s)
		}
		if !json.Valid([]byte(payload)) {
			return nil, fmt.Errorf("--method %q: the answer is not JSON", s)
		}
		out[name] = simAnswer{status: status, payload: json.RawMessage(payload)}
	}
	return out, nil
}

var placeholder = regexp.MustCompile(`\{\{\s*(seq|now|rand\s+(-?[0-9.]+)\s+(-?[0-9.]+))\s*\}\}`)

// template renders telemetry bodies.
type template func(seq int64) []byte

func newTemplate(s string) (template, error) {
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		if m[2] != "" {
			a, _ := strconv.ParseFloat(m[2], 64)
			b, _ := strconv.ParseFloat(m[3], 64)
			if !(a < b) {
				return nil, fmt.Errorf("--template: {{rand %s %s}} needs A < B", m[2], m[3])
			}
		}
	}
	t := template(func(seq int64) []byte {
		return []byte(placeholder.ReplaceAllStringFunc(s, func(p string) string {
			m := placeholder.FindStringSubmatch(p)
			switch {
			case m[1] == "seq":
				return strconv.FormatInt(seq, 10)
			case m[1] == "now":
				return time.Now().UTC().Format(time.RFC3339Nano)
			}
			a, _ := strconv.ParseFloat(m[2], 64)
			b, _ := strconv.ParseFloat(m[3], 64)
			if !strings.Contains(m[2]+m[3], ".") {
				return strconv.FormatInt(int64(a)+rand.Int64N(int64(b-a)), 10)
			}
			return strconv.FormatFloat(a+rand.Float64()*(b-a), 'f', 2, 64)
		}))
	})
	if !json.Valid(t(0)) {
		return nil, errors.New("--template does not make JSON")
	}
	return t, nil
}

// simulatedIdentities returns the devices to play: those given, or n devices
// of the service connection string's hub, created when missing.
func simulatedIdentities(ctx context.Context, g *globals, given []string, n int, prefix string) ([]*auth.DeviceConnectionString, error) {
	var out []*auth.DeviceConnectionString
	for _, s := range given {
		d, err := auth.ParseDeviceConnectionString(s)
		if err != nil {
			return nil, fmt.Errorf("--device-connection-string: %w", err)
		}
		out = append(out, d)
	}
	if len(out) > 0 {
		return out, nil
	}
	if n < 1 {
		return nil, errors.New("--devices must be at least 1")
	}
	cs, err := g.connString()
	if err != nil {
		return nil, err
	}
	svc, err := auth.ParseConnectionString(cs)
	if err != nil {
		return nil, err
	}
	reg, err := g.registry()
	if err != nil {
		return nil, err
	}
	for i := range n {
		id := fmt.Sprintf("%s%03d", prefix, i)
		d, err := reg.GetDevice(ctx, id)
		if errors.Is(err, iothub.ErrDeviceNotFound) {
			d, err = reg.CreateDevice(ctx, &registry.Device{DeviceID: id})
		}
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", id, err)
		}
		if d.Authentication == nil || d.Authentication.SymmetricKey == nil || d.Authentication.SymmetricKey.PrimaryKey == "" {
			return nil, fmt.Errorf("device %s has no symmetric key to connect with", id)
		}
		out = append(out, &auth.DeviceConnectionString{
			HostName: svc.HostName, DeviceID: id, SharedAccessKey: auth.NewSecret(d.Authentication.SymmetricKey.PrimaryKey),
			UseDevelopmentEmulator: svc.UseDevelopmentEmulator,
		})
	}
	return out, nil
}

// pairCertificates loads the --cert and --key files for the X.509
// devices among ids, in their order: the result holds each device's
// certificate, nil for devices with keys.
func pairCertificates(ids []*auth.DeviceConnectionString, certs, keys []string) ([]*tls.Certificate, error) {
	if len(certs) != len(keys) {
		return nil, fmt.Errorf("%d --cert and %d --key: give one key for each certificate", len(certs), len(keys))
	}
	out := make([]*tls.Certificate, len(ids))
	next := 0
	for i, d := range ids {
		if !d.X509 {
			continue
		}
		if d.UseDevelopmentEmulator {
			return nil, fmt.Errorf("device %s: an X.509 device presents its certificate over TLS; UseDevelopmentEmulator=true means plain TCP (start the emulator with --tls or --standard-ports)", d.DeviceID)
		}
		if next == len(certs) {
			return nil, fmt.Errorf("device %s has x509=true but no --cert and --key of its own: give one pair for each X.509 device, in their order", d.DeviceID)
		}
		c, err := tls.LoadX509KeyPair(certs[next], keys[next])
		if err != nil {
			// The error names the files and what is wrong, never the key.
			return nil, fmt.Errorf("device %s: --cert %s --key %s: %w", d.DeviceID, certs[next], keys[next], err)
		}
		out[i] = &c
		next++
	}
	if next < len(certs) {
		return nil, fmt.Errorf("%d --cert given for %d X.509 devices (x509=true)", len(certs), next)
	}
	return out, nil
}

// simStats counts what the simulated devices did.
type simStats struct {
	connected, sent, methods, c2d, desired, errors atomic.Int64
}

func (s *simStats) line() string {
	return fmt.Sprintf("connected %d · telemetry %d · methods %d · c2d %d · desired %d · errors %d",
		s.connected.Load(), s.sent.Load(), s.methods.Load(), s.c2d.Load(), s.desired.Load(), s.errors.Load())
}

// report prints the summary once a second on a terminal (redrawn in
// place), every 10 s elsewhere, until done or ctx ends.
func report(ctx context.Context, w io.Writer, st *simStats, done <-chan struct{}) {
	onTerminal := false
	if f, ok := w.(*os.File); ok {
		onTerminal = term.IsTerminal(int(f.Fd()))
	}
	every := 10 * time.Second
	if onTerminal {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if onTerminal {
				fmt.Fprintf(w, "\r\033[K%s", st.line())
			} else {
				fmt.Fprintln(w, st.line())
			}
		case <-done:
			if onTerminal {
				fmt.Fprintln(w)
			}
			return
		case <-ctx.Done():
			<-done
			if onTerminal {
				fmt.Fprintln(w)
			}
			return
		}
	}
}

// simulator plays devices.
type simulator struct {
	interval time.Duration
	body     template
	answers  map[string]simAnswer
	count    int
	stats    *simStats
	tls      *tls.Config // nil: the system roots
	// transport is how devices connect: transportMQTT (the default),
	// transportAMQP or transportHTTPS.
	transport string
}

// The transports of iothub simulate.
const (
	transportMQTT  = "mqtt"
	transportAMQP  = "amqp"
	transportHTTPS = "https"
)

// brokerURL is where a device connects: plain TCP to the emulator without
// TLS, else MQTTS on the host's port (8883 when it has none).
func brokerURL(d *auth.DeviceConnectionString) string {
	host := d.HostName
	if d.GatewayHostName != "" {
		host = d.GatewayHostName
	}
	if d.UseDevelopmentEmulator {
		return "tcp://" + host
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "8883")
	}
	return "ssl://" + host
}

// run plays one device over the simulator's transport until ctx ends (or
// it sent count messages); an X.509 device presents cert.
func (s *simulator) run(ctx context.Context, d *auth.DeviceConnectionString, cert *tls.Certificate) error {
	switch s.transport {
	case transportAMQP:
		return s.runAMQP(ctx, d, cert)
	case transportHTTPS:
		return s.runHTTPS(ctx, d, cert)
	}
	return s.runMQTT(ctx, d, cert)
}

// tlsFor is the TLS configuration of a device: the simulator's roots, and
// cert when the device has one.
func (s *simulator) tlsFor(cert *tls.Certificate) *tls.Config {
	if cert == nil {
		return s.tls
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.tls != nil {
		cfg = s.tls.Clone()
	}
	cfg.Certificates = []tls.Certificate{*cert}
	return cfg
}

// answer is what a device says to direct method name: --method's answer,
// or an echo of the payload with 200.
func (s *simulator) answer(name string, payload []byte) simAnswer {
	if a, ok := s.answers[name]; ok {
		return a
	}
	p := json.RawMessage(payload)
	if !json.Valid(p) || len(p) == 0 {
		p = json.RawMessage("null")
	}
	body, _ := json.Marshal(map[string]any{"method": name, "payload": p})
	return simAnswer{status: 200, payload: body}
}

// telemetryLoop sends a message every interval (count of them, or until
// ctx ends) and counts them; with no interval it waits for ctx.
func (s *simulator) telemetryLoop(ctx context.Context, send func(body []byte) error) error {
	if s.interval == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for seq := int64(0); s.count == 0 || seq < int64(s.count); seq++ {
		if err := send(s.body(seq)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.stats.errors.Add(1)
		} else {
			s.stats.sent.Add(1)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// runMQTT plays one device over MQTT, reconnecting by itself.
func (s *simulator) runMQTT(ctx context.Context, d *auth.DeviceConnectionString, cert *tls.Certificate) error {
	clientID := d.DeviceID
	user := d.HostName + "/" + d.DeviceID + "/"
	prefix := "devices/" + d.DeviceID + "/"
	if d.ModuleID != "" {
		clientID += "/" + d.ModuleID
		user += d.ModuleID + "/"
		prefix += "modules/" + d.ModuleID + "/"
	}
	user += "?api-version=" + iothub.DefaultAPIVersion + "&DeviceClientType=iothub-go-simulate"
	opts := mqtt.NewClientOptions().AddBroker(brokerURL(d)).SetClientID(clientID).SetUsername(user).
		SetProtocolVersion(4).SetCleanSession(false).SetAutoReconnect(true).SetKeepAlive(60 * time.Second).
		SetCredentialsProvider(func() (string, string) {
			if d.X509 {
				return user, "" // the certificate is the credential
			}
			tok, _ := d.Token(time.Now().Add(simTokenLifetime))
			return user, tok
		})
	if cfg := s.tlsFor(cert); cfg != nil {
		opts.SetTLSConfig(cfg)
	}
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		s.stats.connected.Add(1)
		s.subscribe(c, prefix)
	})
	opts.SetConnectionLostHandler(func(mqtt.Client, error) { s.stats.connected.Add(-1) })
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(30 * time.Second) {
		return fmt.Errorf("could not connect to %s within 30 s", brokerURL(d))
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("connecting to %s: %w", brokerURL(d), err)
	}
	defer c.Disconnect(250)
	topic := prefix + "messages/events/%24.ct=application%2Fjson&%24.ce=utf-8"
	return s.telemetryLoop(ctx, func(body []byte) error {
		pub := c.Publish(topic, 1, false, body)
		select {
		case <-pub.Done():
			return pub.Error()
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// subscribe asks for methods, C2D and desired properties, and answers them.
func (s *simulator) subscribe(c mqtt.Client, prefix string) {
	c.Subscribe("$iothub/methods/POST/#", 0, func(c mqtt.Client, m mqtt.Message) {
		rest := strings.TrimPrefix(m.Topic(), "$iothub/methods/POST/")
		name, query, _ := strings.Cut(rest, "/?")
		rid := strings.TrimPrefix(query, "$rid=")
		a := s.answer(name, m.Payload())
		c.Publish("$iothub/methods/res/"+strconv.Itoa(a.status)+"/?$rid="+rid, 0, false, []byte(a.payload))
		s.stats.methods.Add(1)
	})
	c.Subscribe(prefix+"messages/devicebound/#", 1, func(mqtt.Client, mqtt.Message) {
		s.stats.c2d.Add(1) // paho's PUBACK completes it
	})
	c.Subscribe("$iothub/twin/res/#", 0, func(mqtt.Client, mqtt.Message) {})
	c.Subscribe("$iothub/twin/PATCH/properties/desired/#", 0, func(c mqtt.Client, m mqtt.Message) {
		var patch map[string]any
		if json.Unmarshal(m.Payload(), &patch) != nil {
			return
		}
		delete(patch, "$version")
		body, _ := json.Marshal(patch)
		c.Publish("$iothub/twin/PATCH/properties/reported/?$rid="+strconv.FormatInt(rand.Int64(), 16), 0, false, body)
		s.stats.desired.Add(1)
	})
}
