package twin

import (
	"context"
	"net/http"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/internal/transport"
)

// Client reads and writes the twins of one hub. It is safe for concurrent
// use; create one and share it.
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
// service connection string. opts may be nil.
func NewClientFromConnectionString(connectionString string, opts *iothub.ClientOptions) (*Client, error) {
	p, err := transport.NewFromConnectionString(connectionString, opts)
	if err != nil {
		return nil, err
	}
	return &Client{p: p}, nil
}

func twinPath(deviceID, moduleID string) string {
	p := "/twins/" + transport.PathEscape(deviceID)
	if moduleID != "" {
		p += "/modules/" + transport.PathEscape(moduleID)
	}
	return p
}

func checkIDs(deviceID, moduleID string, module bool) error {
	if module {
		return ids.Module(deviceID, moduleID)
	}
	return ids.Device(deviceID)
}

// Get returns the twin of device deviceID.
func (c *Client) Get(ctx context.Context, deviceID string) (*Twin, error) {
	return c.get(ctx, deviceID, "", false)
}

// GetModule returns the twin of module moduleID of device deviceID.
func (c *Client) GetModule(ctx context.Context, deviceID, moduleID string) (*Twin, error) {
	return c.get(ctx, deviceID, moduleID, true)
}

// Update merges patch into the twin of device deviceID and returns the twin
// as it then is.
func (c *Client) Update(ctx context.Context, deviceID string, patch *Patch) (*Twin, error) {
	return c.update(ctx, deviceID, "", false, patch)
}

// UpdateModule merges patch into the twin of a module.
func (c *Client) UpdateModule(ctx context.Context, deviceID, moduleID string, patch *Patch) (*Twin, error) {
	return c.update(ctx, deviceID, moduleID, true, patch)
}

// Replace replaces the tags and desired properties of the twin of device
// deviceID with those of t (reported properties are the device's and stay).
// t.ETag must be the ETag of the twin read, or "*" to overwrite whatever is
// there; an empty ETag is refused.
func (c *Client) Replace(ctx context.Context, deviceID string, t *Twin) (*Twin, error) {
	return c.replace(ctx, deviceID, "", false, t)
}

// ReplaceModule replaces the twin of a module, with the rules of Replace.
func (c *Client) ReplaceModule(ctx context.Context, deviceID, moduleID string, t *Twin) (*Twin, error) {
	return c.replace(ctx, deviceID, moduleID, true, t)
}

func (c *Client) get(ctx context.Context, deviceID, moduleID string, module bool) (*Twin, error) {
	if err := checkIDs(deviceID, moduleID, module); err != nil {
		return nil, err
	}
	out := new(Twin)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodGet, Path: twinPath(deviceID, moduleID), Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Writes are repeated on transient failures: the same patch merged twice, or
// the same twin written twice, gives the same twin.
func (c *Client) update(ctx context.Context, deviceID, moduleID string, module bool, patch *Patch) (*Twin, error) {
	if err := checkIDs(deviceID, moduleID, module); err != nil {
		return nil, err
	}
	if patch == nil || (patch.Tags == nil && patch.Desired == nil) {
		return nil, ids.ArgumentInvalid("twin patch for %q is empty: set Tags or Desired", deviceID)
	}
	out := new(Twin)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodPatch, Path: twinPath(deviceID, moduleID), Body: patch,
		IfMatch: transport.IfMatch(patch.ETag), Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) replace(ctx context.Context, deviceID, moduleID string, module bool, t *Twin) (*Twin, error) {
	if err := checkIDs(deviceID, moduleID, module); err != nil {
		return nil, err
	}
	if t == nil {
		return nil, ids.ArgumentInvalid("twin for %q is nil", deviceID)
	}
	if t.ETag == "" {
		return nil, ids.ArgumentInvalid(`twin of %q has no ETag; use the ETag of the twin you read, or "*" to overwrite unconditionally`, deviceID)
	}
	body := struct {
		DeviceID   string         `json:"deviceId"`
		ModuleID   string         `json:"moduleId,omitempty"`
		Tags       map[string]any `json:"tags"`
		Properties struct {
			Desired Collection `json:"desired"`
		} `json:"properties"`
	}{DeviceID: deviceID, ModuleID: moduleID, Tags: t.Tags}
	body.Properties.Desired = withoutSystemKeys(t.Properties.Desired)
	if body.Tags == nil {
		body.Tags = map[string]any{}
	}
	out := new(Twin)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodPut, Path: twinPath(deviceID, moduleID), Body: &body,
		IfMatch: transport.IfMatch(t.ETag), Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// withoutSystemKeys drops the "$version" and "$metadata" entries the hub
// adds, which it refuses on input.
func withoutSystemKeys(c Collection) Collection {
	out := make(Collection, len(c))
	for k, v := range c {
		if len(k) > 0 && k[0] == '$' {
			continue
		}
		out[k] = v
	}
	return out
}
