package registry

import (
	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/transport"
)

// Client manages the identity registry of one hub. It is safe for
// concurrent use; create one and share it.
type Client struct {
	p *transport.Pipeline
}

// NewClient returns a client for the hub at hostName (for example
// "myhub.azure-devices.net"), authorised by cred, over HTTPS. opts may be nil.
func NewClient(hostName string, cred auth.Credential, opts *iothub.ClientOptions) (*Client, error) {
	p, err := transport.New(transport.Config{HostName: hostName, Credential: cred, Options: opts})
	if err != nil {
		return nil, err
	}
	return &Client{p: p}, nil
}

// NewClientFromConnectionString returns a client for the hub and policy of a
// service connection string ("HostName=…;SharedAccessKeyName=…;SharedAccessKey=…").
// opts may be nil.
func NewClientFromConnectionString(connectionString string, opts *iothub.ClientOptions) (*Client, error) {
	p, err := transport.NewFromConnectionString(connectionString, opts)
	if err != nil {
		return nil, err
	}
	return &Client{p: p}, nil
}

// HostName returns the hub's host name (and port) the client talks to.
func (c *Client) HostName() string { return c.p.HostName() }
