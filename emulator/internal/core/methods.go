package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// InfoError is a hub error with the "info" object that the structured
// error form carries, e.g. {"timeout":"00:00:05"} on a 404103
// DeviceNotOnline.
type InfoError struct {
	// Err is the hub error.
	Err *iothub.Error
	// Info is what the error's "info" object holds.
	Info map[string]any
}

// Error returns Err's message.
func (e *InfoError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *InfoError) Unwrap() error { return e.Err }

// InvokeMethod calls direct method name on a device (key.ModuleID "") or
// module: the identity must exist; it waits up to connectTimeout for it to
// be online and subscribed to methods (404103 DeviceNotOnline, with the
// time-out in its info as "hh:mm:ss", otherwise), then up to
// responseTimeout for its answer (504101 GatewayTimeout otherwise), and
// returns the device's status and payload, whatever that status is. The
// call ends with ctx, or with 503001 when the hub stops.
func (h *Hub) InvokeMethod(ctx context.Context, key sessions.Key, name string, payload json.RawMessage, connectTimeout, responseTimeout time.Duration) (int, json.RawMessage, error) {
	if key.ModuleID == "" {
		if _, err := h.store.GetDevice(key.DeviceID); err != nil {
			return 0, nil, err
		}
	} else if _, err := h.store.GetModule(key.DeviceID, key.ModuleID); err != nil {
		return 0, nil, err
	}

	// The call ends when the client goes away or the emulator shuts down.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.baseCtx, cancel)
	defer stop()

	status, out, err := h.sessions.Invoke(ctx, key, name, payload, connectTimeout, responseTimeout)
	switch {
	case err == nil:
		return status, out, nil
	case errors.Is(err, sessions.ErrNotOnline):
		return 0, nil, &InfoError{
			Err:  iothub.NewError(iothub.CodeDeviceNotOnline, "Timed out waiting for device to connect."),
			Info: map[string]any{"timeout": formatTimeSpan(connectTimeout)},
		}
	case errors.Is(err, sessions.ErrTimeout):
		return 0, nil, iothub.NewError(iothub.CodeGatewayTimeout, "Timed out waiting for the response from device.")
	case h.baseCtx.Err() != nil:
		return 0, nil, iothub.NewError(iothub.CodeServiceUnavailable, "The emulator is shutting down")
	default:
		return 0, nil, err // the client is gone; nobody reads the answer
	}
}

// formatTimeSpan writes d the way .NET writes a TimeSpan: "hh:mm:ss".
func formatTimeSpan(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}
