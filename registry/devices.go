package registry

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/internal/transport"
)

// MaxListDevices is the most devices ListDevices returns.
const MaxListDevices = 1000

func devicePath(id string) string { return "/devices/" + transport.PathEscape(id) }

// CreateDevice registers d and returns the identity as the hub stored it,
// with its ETag, generation id and (for SAS devices) keys. An existing id
// gives [iothub.ErrDeviceAlreadyExists]. A create repeated after a lost
// answer can report that error too.
func (c *Client) CreateDevice(ctx context.Context, d *Device) (*Device, error) {
	if d == nil {
		return nil, ids.ArgumentInvalid("device is nil")
	}
	if err := ids.Device(d.DeviceID); err != nil {
		return nil, err
	}
	body := *d
	body.ETag = ""
	out := new(Device)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodPut, Path: devicePath(d.DeviceID), Body: &body, Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetDevice returns the identity of device id, or [iothub.ErrDeviceNotFound].
func (c *Client) GetDevice(ctx context.Context, id string) (*Device, error) {
	if err := ids.Device(id); err != nil {
		return nil, err
	}
	out := new(Device)
	if _, err := c.p.Do(ctx, &transport.Request{Method: http.MethodGet, Path: devicePath(id), Retry: transport.RetryIdempotent}, out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateDevice replaces the identity of d.DeviceID with d and returns what
// the hub stored. The update applies only if the stored ETag still equals
// d.ETag (otherwise [iothub.ErrPreconditionFailed]); set d.ETag to "*" to
// overwrite whatever is there. An empty ETag is refused, so that a device
// read long ago is never written back over newer changes by accident.
func (c *Client) UpdateDevice(ctx context.Context, d *Device) (*Device, error) {
	if d == nil {
		return nil, ids.ArgumentInvalid("device is nil")
	}
	if err := ids.Device(d.DeviceID); err != nil {
		return nil, err
	}
	if d.ETag == "" {
		return nil, ids.ArgumentInvalid(`device %q has no ETag; use the ETag of the device you read, or "*" to overwrite unconditionally`, d.DeviceID)
	}
	out := new(Device)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodPut, Path: devicePath(d.DeviceID), Body: d,
		IfMatch: transport.IfMatch(d.ETag), Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteDevice removes device id and its modules. With etag set the delete
// applies only if the stored ETag still matches ([iothub.ErrPreconditionFailed]
// otherwise); an empty etag or "*" deletes unconditionally. A missing device
// gives [iothub.ErrDeviceNotFound].
func (c *Client) DeleteDevice(ctx context.Context, id, etag string) error {
	if err := ids.Device(id); err != nil {
		return err
	}
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodDelete, Path: devicePath(id),
		IfMatch: transport.IfMatch(etag), Retry: transport.RetryIdempotent}, nil)
	return err
}

// ListDevices returns up to top device identities (1 to [MaxListDevices]; 0
// means the maximum). To go through a larger fleet, use a twin query, which
// pages.
func (c *Client) ListDevices(ctx context.Context, top int) ([]*Device, error) {
	if top < 0 || top > MaxListDevices {
		return nil, ids.ArgumentInvalid("top is %d; it must be between 1 and %d (0 for the maximum)", top, MaxListDevices)
	}
	if top == 0 {
		top = MaxListDevices
	}
	var out []*Device
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodGet, Path: "/devices",
		Query: url.Values{"top": {strconv.Itoa(top)}}, Retry: transport.RetryIdempotent}, &out)
	if err != nil {
		return nil, err
	}
	return out, nil
}
