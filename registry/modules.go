package registry

import (
	"context"
	"net/http"

	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/internal/transport"
)

func modulePath(deviceID, moduleID string) string {
	return devicePath(deviceID) + "/modules/" + transport.PathEscape(moduleID)
}

// CreateModule registers module m on device m.DeviceID and returns it as the
// hub stored it. An existing module gives [iothub.ErrModuleAlreadyExists]; a
// missing device [iothub.ErrDeviceNotFound].
func (c *Client) CreateModule(ctx context.Context, m *Module) (*Module, error) {
	if m == nil {
		return nil, ids.ArgumentInvalid("module is nil")
	}
	if err := ids.Module(m.DeviceID, m.ModuleID); err != nil {
		return nil, err
	}
	body := *m
	body.ETag = ""
	out := new(Module)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodPut, Path: modulePath(m.DeviceID, m.ModuleID),
		Body: &body, Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetModule returns module moduleID of device deviceID, or
// [iothub.ErrModuleNotFound] / [iothub.ErrDeviceNotFound].
func (c *Client) GetModule(ctx context.Context, deviceID, moduleID string) (*Module, error) {
	if err := ids.Module(deviceID, moduleID); err != nil {
		return nil, err
	}
	out := new(Module)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodGet, Path: modulePath(deviceID, moduleID),
		Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateModule replaces module m with the same ETag rules as
// [Client.UpdateDevice]: m.ETag must match the stored one, or be "*".
func (c *Client) UpdateModule(ctx context.Context, m *Module) (*Module, error) {
	if m == nil {
		return nil, ids.ArgumentInvalid("module is nil")
	}
	if err := ids.Module(m.DeviceID, m.ModuleID); err != nil {
		return nil, err
	}
	if m.ETag == "" {
		return nil, ids.ArgumentInvalid(`module %q of device %q has no ETag; use the ETag of the module you read, or "*" to overwrite unconditionally`, m.ModuleID, m.DeviceID)
	}
	out := new(Module)
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodPut, Path: modulePath(m.DeviceID, m.ModuleID), Body: m,
		IfMatch: transport.IfMatch(m.ETag), Retry: transport.RetryIdempotent}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteModule removes a module, with the ETag rules of [Client.DeleteDevice].
func (c *Client) DeleteModule(ctx context.Context, deviceID, moduleID, etag string) error {
	if err := ids.Module(deviceID, moduleID); err != nil {
		return err
	}
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodDelete, Path: modulePath(deviceID, moduleID),
		IfMatch: transport.IfMatch(etag), Retry: transport.RetryIdempotent}, nil)
	return err
}

// ListModules returns the modules of device deviceID.
func (c *Client) ListModules(ctx context.Context, deviceID string) ([]*Module, error) {
	if err := ids.Device(deviceID); err != nil {
		return nil, err
	}
	var out []*Module
	_, err := c.p.Do(ctx, &transport.Request{Method: http.MethodGet, Path: devicePath(deviceID) + "/modules",
		Retry: transport.RetryIdempotent}, &out)
	if err != nil {
		return nil, err
	}
	return out, nil
}
