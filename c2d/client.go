package c2d

import (
	"context"
	"net"
	"sync"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/amqpconn"
	"github.com/iotkit-go/iothub/internal/transport"
)

// ClientOptions configure a Client. A nil *ClientOptions accepts the
// defaults.
type ClientOptions struct {
	// ClientOptions are the HTTP options (for Purge) and what AMQP shares
	// with them: TLSConfig, Logger and Retry.
	iothub.ClientOptions
	// Dial opens the TCP connections of AMQP, for proxies or tests.
	// Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client sends cloud-to-device messages to one hub and receives what the
// hub reports about them. It is safe for concurrent use; create one, share
// it, and Close it when done.
type Client struct {
	conn *amqpconn.Conn
	http *transport.Pipeline
	host string
	opts ClientOptions

	mu     sync.Mutex // guards the sender; held while one is being opened
	sender *amqp.Sender
	slink  amqpconn.Link // the connection the sender is on
	closed bool
}

// NewClient returns a client for the hub at hostName (for example
// "myhub.azure-devices.net"), authorised by cred (a policy with
// ServiceConnect), over TLS. opts may be nil.
func NewClient(hostName string, cred auth.Credential, opts *ClientOptions) (*Client, error) {
	return newClient(hostName, cred, false, opts)
}

// NewClientFromConnectionString returns a client for the hub and policy of
// a service connection string.
func NewClientFromConnectionString(connectionString string, opts *ClientOptions) (*Client, error) {
	cs, err := auth.ParseConnectionString(connectionString)
	if err != nil {
		return nil, err
	}
	if err := cs.RequireIoTHub(); err != nil {
		return nil, err
	}
	cred, err := cs.Credential()
	if err != nil {
		return nil, err
	}
	return newClient(cs.HostName, cred, cs.UseDevelopmentEmulator, opts)
}

func newClient(hostName string, cred auth.Credential, plain bool, opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	p, err := transport.New(transport.Config{HostName: hostName, Credential: cred, PlainHTTP: plain, Options: &o.ClientOptions})
	if err != nil {
		return nil, err
	}
	conn, err := amqpconn.New(amqpconn.Config{
		HostName:   hostName,
		Credential: cred,
		PlainTCP:   plain,
		TLSConfig:  o.TLSConfig,
		Dial:       o.Dial,
		Retry:      o.Retry,
		Logger:     o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, http: p, host: hostName, opts: o}, nil
}

// Close closes the client's connection. Calls in progress fail; later
// calls fail with an error.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	c.sender = nil
	c.mu.Unlock()
	return c.conn.Close()
}

// Connect opens the client's AMQP connection and authenticates it now,
// rather than with the first Send or receiver: an unreachable hub or a
// refused key shows at once (as an *iothub.Error for the hub's refusals),
// and the first Send does not pay for the connection. Failures to reach the
// hub are retried per the client's RetryOptions, within ctx.
func (c *Client) Connect(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		l, err := c.conn.Get(ctx)
		if err == nil {
			if err = c.conn.Claim(ctx, l, c.host); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if amqpconn.Classify(err) == amqpconn.Fatal || attempt >= c.conn.MaxRetries() {
			return hubError(err)
		}
		if amqpconn.Classify(err) == amqpconn.RecreateConn {
			c.conn.Reset(l.Generation)
		}
		if err := c.conn.Sleep(ctx, attempt+1, err); err != nil {
			return err
		}
	}
}

// HostName returns the hub's host name (and port) the client talks to.
func (c *Client) HostName() string { return c.host }

// link opens a session on the current connection after claiming the
// hub's audience on it.
func (c *Client) session(ctx context.Context) (*amqp.Session, amqpconn.Link, error) {
	l, err := c.conn.Get(ctx)
	if err != nil {
		return nil, l, err
	}
	if err := c.conn.Claim(ctx, l, c.host); err != nil {
		return nil, l, err
	}
	s, err := l.Conn.NewSession(ctx, nil)
	return s, l, err
}

// errorCodes are the meanings of AMQP conditions on the C2D endpoints.
var errorCodes = map[amqp.ErrCond]iothub.ErrorCode{
	amqp.ErrCondNotFound:              iothub.CodeDeviceNotFound,
	amqp.ErrCondResourceLimitExceeded: iothub.CodeDeviceMaximumQueueDepthExceeded,
	amqp.ErrCondMessageSizeExceeded:   iothub.CodeMessageTooLarge,
	amqp.ErrCondUnauthorizedAccess:    iothub.CodeIotHubUnauthorizedAccess,
}

func hubError(err error) error { return amqpconn.HubError(err, errorCodes) }
