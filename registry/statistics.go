package registry

import (
	"context"
	"net/http"

	"github.com/iotkit-go/iothub/internal/transport"
)

// Statistics returns the device counts of the registry. The hub updates
// them within a few minutes of a change; the emulator at once.
func (c *Client) Statistics(ctx context.Context) (*Statistics, error) {
	out := new(Statistics)
	if _, err := c.p.Do(ctx, &transport.Request{Method: http.MethodGet, Path: "/statistics/devices", Retry: transport.RetryIdempotent}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// ServiceStatistics returns the hub's live statistics: how many devices are
// connected.
func (c *Client) ServiceStatistics(ctx context.Context) (*ServiceStatistics, error) {
	out := new(ServiceStatistics)
	if _, err := c.p.Do(ctx, &transport.Request{Method: http.MethodGet, Path: "/statistics/service", Retry: transport.RetryIdempotent}, out); err != nil {
		return nil, err
	}
	return out, nil
}
