package c2d

import (
	"context"
	"net/http"

	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/internal/transport"
)

// PurgeResult says what a purge removed.
type PurgeResult struct {
	DeviceID            string `json:"deviceId"`
	ModuleID            string `json:"moduleId"`
	TotalMessagesPurged int    `json:"totalMessagesPurged"`
}

// Purge removes every message queued for device deviceID (over HTTPS);
// messages that asked for negative feedback report Purged.
func (c *Client) Purge(ctx context.Context, deviceID string) (*PurgeResult, error) {
	if err := ids.Device(deviceID); err != nil {
		return nil, err
	}
	out := new(PurgeResult)
	_, err := c.http.Do(ctx, &transport.Request{Method: http.MethodDelete,
		Path: "/devices/" + transport.PathEscape(deviceID) + "/commands", Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}
