package eventhub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/amqpconn"
)

// DefaultConsumerGroup is the consumer group every hub has.
const DefaultConsumerGroup = "$Default"

// ConsumerOptions configure a Consumer. A nil *ConsumerOptions accepts the
// defaults.
type ConsumerOptions struct {
	// ConsumerGroup is the consumer group to read with. Readers in
	// different consumer groups each see every event.
	// Default: "$Default".
	ConsumerGroup string
	// EventHub, when set, makes NewConsumer connect straight to an Event
	// Hub-compatible endpoint: hostName is then the namespace host (for
	// example "ihsuprodblres053dednamespace.servicebus.windows.net") and
	// EventHub the entity name; no IoT Hub redirect is followed.
	// Default: "" (hostName is an IoT Hub, whose redirect is followed).
	EventHub string
	// TLSConfig is used for TLS connections; its ServerName defaults to the
	// host dialled. Default: the system roots.
	TLSConfig *tls.Config
	// Dial opens TCP connections, for proxies or tests.
	// Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Retry is the backoff of link and connection recovery, and how many
	// consecutive failures a call tolerates.
	// Default: see iothub.RetryOptions.
	Retry iothub.RetryOptions
	// Logger receives debug records (redirects, recoveries); never tokens.
	// Default: none.
	Logger *slog.Logger
	// Connections is the most AMQP connections the consumer opens to the
	// endpoint. Each partition receiver joins the connection with the
	// fewest receivers, and a connection is dialled when its first receiver
	// attaches, so a consumer with one receiver holds one connection. One
	// connection is read by one goroutine and served as one stream, which
	// caps the events per second it carries whatever the cores; receivers
	// on separate connections decode in parallel. Properties and
	// PartitionProperties use the first connection.
	// Default: GOMAXPROCS, at most 8.
	Connections int
}

// maxDefaultConnections bounds the default ConsumerOptions.Connections:
// beyond that, more connections add load on the service more than speed.
const maxDefaultConnections = 8

// Consumer reads the telemetry of one hub in one consumer group: hub and
// partition properties, and partition receivers. It holds up to
// ConsumerOptions.Connections AMQP connections to the Event Hub-compatible
// endpoint, which its receivers share, and recovers each when it fails. It is safe for concurrent use;
// Close it when done.
type Consumer struct {
	cred auth.Credential
	// ehCred signs for the Event Hub-compatible endpoint: Event Hubs keys
	// its HMAC with the key's text where IoT Hub decodes it, so a shared
	// access key credential of the hub is used the Event Hubs way there.
	ehCred auth.Credential
	plain  bool
	group  string
	opts   ConsumerOptions
	// hubHost is the IoT Hub host whose redirect names the endpoint; empty
	// when the consumer was given the endpoint directly.
	hubHost string
	direct  *endpointAddr

	mu        sync.Mutex
	ep        *endpoint
	closed    bool
	receivers []int      // open receivers per connection slot
	resolveMu sync.Mutex // one redirect lookup at a time
	mgmt      managementLinks
}

// endpointAddr is where the Event Hub-compatible entity lives.
type endpointAddr struct {
	host   string // host[:port], as dialled
	entity string
}

// endpoint is a resolved address and its connections, one per slot,
// dialled on first use.
type endpoint struct {
	endpointAddr
	conns    []*amqpconn.Conn
	audience string
	// dialFailures counts consecutive failed dials; a redirected endpoint
	// that cannot be reached is looked up again.
	dialFailures int
}

// NewConsumer returns a consumer of the hub at hostName (for example
// "myhub.azure-devices.net"), authorised by cred (a policy with
// ServiceConnect), over TLS. The consumer asks the hub where its built-in
// endpoint is (the hub answers an attach to messages/events with
// amqp:link:redirect) on first use, remembers the answer, and asks again
// if the endpoint stops answering. Set opts.EventHub to connect to an
// Event Hub-compatible endpoint directly instead.
//
// cred must be able to sign for the endpoint's audience,
// "amqp://<endpoint host>/<entity>": a shared access key credential signs
// any audience (the Event Hubs way for the endpoint, see
// auth.SharedAccessKeyCredential.EventHubsCredential), but a fixed SAS
// token credential only covers the resource it was issued for, so with the
// redirect it needs a token whose resource is the endpoint (or use the
// Event Hub-compatible connection string).
func NewConsumer(hostName string, cred auth.Credential, opts *ConsumerOptions) (*Consumer, error) {
	return newConsumer(hostName, cred, false, opts)
}

// NewConsumerFromConnectionString returns a consumer for either an IoT Hub
// service connection string (HostName=…; the redirect is followed) or the
// Event Hub-compatible connection string of the hub's built-in endpoint
// (Endpoint=sb://…;EntityPath=…), as the portal shows them.
// UseDevelopmentEmulator=true selects plain TCP for the local emulator.
func NewConsumerFromConnectionString(connectionString string, opts *ConsumerOptions) (*Consumer, error) {
	cs, err := auth.ParseConnectionString(connectionString)
	if err != nil {
		return nil, err
	}
	cred, err := cs.Credential()
	if err != nil {
		return nil, err
	}
	var o ConsumerOptions
	if opts != nil {
		o = *opts
	}
	if cs.Endpoint != "" {
		if cs.EntityPath == "" {
			return nil, errors.New("iothub: the Event Hub-compatible connection string has no EntityPath")
		}
		o.EventHub = cs.EntityPath
	}
	return newConsumer(cs.HostName, cred, cs.UseDevelopmentEmulator, &o)
}

func newConsumer(hostName string, cred auth.Credential, plain bool, opts *ConsumerOptions) (*Consumer, error) {
	if hostName == "" {
		return nil, errors.New("iothub: host name is empty")
	}
	if cred == nil {
		return nil, errors.New("iothub: credential is nil")
	}
	var o ConsumerOptions
	if opts != nil {
		o = *opts
	}
	if o.Connections < 0 {
		return nil, fmt.Errorf("iothub: ConsumerOptions.Connections is %d; want 0 (the default) or more", o.Connections)
	}
	if o.Connections == 0 {
		o.Connections = min(runtime.GOMAXPROCS(0), maxDefaultConnections)
	}
	c := &Consumer{cred: cred, ehCred: cred, plain: plain, opts: o, group: o.ConsumerGroup, receivers: make([]int, o.Connections)}
	if c.group == "" {
		c.group = DefaultConsumerGroup
	}
	if o.EventHub != "" {
		c.direct = &endpointAddr{host: hostName, entity: o.EventHub}
	} else {
		c.hubHost = hostName
		if k, ok := cred.(*auth.SharedAccessKeyCredential); ok {
			c.ehCred = k.EventHubsCredential()
		}
	}
	return c, nil
}

// ConsumerGroup returns the consumer group the consumer reads with.
func (c *Consumer) ConsumerGroup() string { return c.group }

// EventHub returns the fully qualified namespace (with a port only when it
// is not 5671, as for the emulator) and the entity name of the Event
// Hub-compatible endpoint, resolving the IoT Hub redirect if it has not
// been yet. Checkpoint stores key their records by these two names.
func (c *Consumer) EventHub(ctx context.Context) (namespace, eventHub string, err error) {
	ep, err := c.endpoint(ctx)
	if err != nil {
		return "", "", err
	}
	return ep.host, ep.entity, nil
}

// Close closes the consumer's connections. Receivers fail with an error;
// later calls fail with ErrClosed.
func (c *Consumer) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	ep := c.ep
	c.ep = nil
	c.mu.Unlock()
	if ep != nil {
		return ep.close()
	}
	return nil
}

// close closes the endpoint's connections.
func (ep *endpoint) close() error {
	var errs []error
	for _, conn := range ep.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// acquireSlot returns the connection slot with the fewest receivers, for a
// new receiver.
func (c *Consumer) acquireSlot() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	best := 0
	for i, n := range c.receivers {
		if n < c.receivers[best] {
			best = i
		}
	}
	c.receivers[best]++
	return best
}

// releaseSlot gives back a slot taken by acquireSlot.
func (c *Consumer) releaseSlot(slot int) {
	c.mu.Lock()
	c.receivers[slot]--
	c.mu.Unlock()
}

// ErrClosed is returned by calls on a closed Consumer or receiver.
var ErrClosed = errors.New("iothub: eventhub consumer closed")

// endpoint returns the current endpoint, resolving the redirect if needed.
func (c *Consumer) endpoint(ctx context.Context) (*endpoint, error) {
	c.mu.Lock()
	ep, closed := c.ep, c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if ep != nil {
		return ep, nil
	}
	c.resolveMu.Lock()
	defer c.resolveMu.Unlock()
	c.mu.Lock()
	ep = c.ep
	c.mu.Unlock()
	if ep != nil {
		return ep, nil
	}
	addr := c.direct
	if addr == nil {
		var err error
		if addr, err = c.resolve(ctx); err != nil {
			return nil, err
		}
	}
	return c.adopt(*addr)
}

// adopt makes addr the current endpoint, with new connections (dialled
// when first used).
func (c *Consumer) adopt(addr endpointAddr) (*endpoint, error) {
	ep := &endpoint{endpointAddr: addr, audience: entityAudience(addr)}
	for range c.opts.Connections {
		conn, err := c.newConn(addr.host, c.ehCred)
		if err != nil {
			_ = ep.close()
			return nil, err
		}
		ep.conns = append(ep.conns, conn)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = ep.close()
		return nil, ErrClosed
	}
	if old := c.ep; old != nil {
		_ = old.close()
	}
	c.ep = ep
	return ep, nil
}

// newConn returns a connection (dialled on first use) to host, signing
// with cred, with the consumer's transport options.
func (c *Consumer) newConn(host string, cred auth.Credential) (*amqpconn.Conn, error) {
	return amqpconn.New(amqpconn.Config{
		HostName:   host,
		Credential: cred,
		PlainTCP:   c.plain,
		TLSConfig:  c.opts.TLSConfig,
		Dial:       c.opts.Dial,
		Retry:      c.opts.Retry,
		Logger:     c.opts.Logger,
	})
}

// entityAudience is the CBS audience of an entity, as the official Event
// Hubs clients form it: the port is left out when it is the default.
func entityAudience(a endpointAddr) string {
	host := a.host
	if h, p, err := net.SplitHostPort(host); err == nil && p == amqpconn.DefaultPort {
		host = h
	}
	return "amqp://" + host + "/" + a.entity
}

// forget drops ep if it is still current, so that the next call resolves
// the redirect again (only for consumers built on an IoT Hub host).
func (c *Consumer) forget(ep *endpoint) {
	if c.direct != nil {
		return
	}
	c.mu.Lock()
	if c.ep != ep {
		c.mu.Unlock()
		return
	}
	c.ep = nil
	c.mu.Unlock()
	c.log(context.Background(), "iothub: Event Hub-compatible endpoint forgotten; the redirect will be resolved again", slog.String("host", ep.host))
	_ = ep.close()
}

// redirectProbe is the address attached on the IoT Hub to learn where the
// built-in endpoint is: the hub refuses any receiver under messages/events
// with amqp:link:redirect.
const redirectProbe = "messages/events/$management"

// resolve asks the IoT Hub where its Event Hub-compatible endpoint is.
func (c *Consumer) resolve(ctx context.Context) (*endpointAddr, error) {
	conn, err := c.newConn(c.hubHost, c.cred)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	for attempt := 0; ; attempt++ {
		addr, err := c.resolveOnce(ctx, conn)
		if err == nil {
			c.log(ctx, "iothub: IoT Hub redirected telemetry to its Event Hub-compatible endpoint",
				slog.String("host", addr.host), slog.String("entity", addr.entity))
			return addr, nil
		}
		act := amqpconn.Classify(err)
		if act == amqpconn.Fatal || attempt >= conn.MaxRetries() {
			return nil, linkError(err)
		}
		if err := conn.Sleep(ctx, attempt+1, err); err != nil {
			return nil, err
		}
	}
}

func (c *Consumer) resolveOnce(ctx context.Context, conn *amqpconn.Conn) (*endpointAddr, error) {
	l, err := conn.Get(ctx)
	if err != nil {
		return nil, err
	}
	if err := conn.Claim(ctx, l, c.hubHost); err != nil {
		if amqpconn.Classify(err) == amqpconn.RecreateConn {
			conn.Reset(l.Generation)
		}
		return nil, err
	}
	s, err := l.Conn.NewSession(ctx, nil)
	if err != nil {
		conn.Reset(l.Generation)
		return nil, err
	}
	defer closeQuietly(s.Close)
	r, err := s.NewReceiver(ctx, redirectProbe, nil)
	if err == nil {
		closeQuietly(r.Close)
		return nil, errors.New("iothub: the hub did not redirect messages/events to an Event Hub-compatible endpoint")
	}
	addr, ok := redirectTarget(err)
	if !ok {
		return nil, err
	}
	return addr, nil
}

// redirectTarget reads the endpoint out of an amqp:link:redirect error:
// the host from network-host (or hostname), the port, and the entity from
// the first segment of the address's path. The scheme is ignored: the
// consumer keeps the TLS choice of its connection string, which is what
// the endpoint's port serves (amqps:// from IoT Hub, amqp:// from the
// emulator over plain TCP).
func redirectTarget(err error) (*endpointAddr, bool) {
	re := remoteError(err)
	if re == nil || re.Condition != amqp.ErrCondLinkRedirect {
		return nil, false
	}
	info := re.Info
	host, _ := info["hostname"].(string)
	if nh, _ := info["network-host"].(string); nh != "" {
		host = nh
	}
	address, _ := info["address"].(string)
	port := ""
	switch p := info["port"].(type) {
	case int32:
		port = fmt.Sprint(p)
	case int64:
		port = fmt.Sprint(p)
	case uint16, uint32, int:
		port = fmt.Sprint(p)
	}
	path := address
	if i := strings.Index(path, "://"); i >= 0 {
		rest := path[i+3:]
		hp, p, _ := strings.Cut(rest, "/")
		path = p
		if host == "" {
			host = hp
			if h, pp, err := net.SplitHostPort(hp); err == nil {
				host, port = h, pp
			}
		}
	}
	entity, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if host == "" || entity == "" {
		return nil, false
	}
	// The default port is left out, so that the namespace names checkpoint
	// records exactly as the official SDKs name them (the bare FQDN).
	if port != "" && port != amqpconn.DefaultPort {
		host = net.JoinHostPort(host, port)
	}
	return &endpointAddr{host: host, entity: entity}, true
}

// connRef names the connection a session was opened on, so that a failure
// seen on the session resets that connection and no other.
type connRef struct {
	ep   *endpoint
	conn *amqpconn.Conn
	gen  uint64
}

// reset drops the connection if it is still the generation the session
// was opened on.
func (r connRef) reset() {
	if r.conn != nil {
		r.conn.Reset(r.gen)
	}
}

// session opens a session on the live connection of the given slot, after
// putting the entity's token on it. The returned connRef is set as soon
// as the endpoint is known, even with an error.
func (c *Consumer) session(ctx context.Context, slot int) (*amqp.Session, connRef, error) {
	ep, err := c.endpoint(ctx)
	if err != nil {
		return nil, connRef{}, err
	}
	conn := ep.conns[slot%len(ep.conns)]
	ref := connRef{ep: ep, conn: conn}
	l, err := conn.Get(ctx)
	if err != nil {
		c.noteDialFailure(ep, err)
		return nil, ref, err
	}
	ref.gen = l.Generation
	c.mu.Lock()
	ep.dialFailures = 0
	c.mu.Unlock()
	if err := conn.Claim(ctx, l, ep.audience); err != nil {
		if amqpconn.Classify(err) == amqpconn.RecreateConn {
			ref.reset()
		}
		return nil, ref, err
	}
	s, err := l.Conn.NewSession(ctx, nil)
	if err != nil {
		ref.reset()
		return nil, ref, err
	}
	return s, ref, nil
}

// noteDialFailure forgets a redirected endpoint that failed to answer
// twice in a row: the hub may have moved it (failover, migration).
func (c *Consumer) noteDialFailure(ep *endpoint, err error) {
	if ctxErr(err) {
		return
	}
	c.mu.Lock()
	ep.dialFailures++
	n := ep.dialFailures
	c.mu.Unlock()
	if n >= 2 {
		c.forget(ep)
	}
}

func ctxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (c *Consumer) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if c.opts.Logger == nil || !c.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.opts.Logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}
