package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
)

// OpenMessaging opens the hub's messaging state: the C2D queues (with
// their feedback and file notifications) and the partitions of the
// built-in Event Hub-compatible endpoint. events are the endpoint's
// options as the front end that serves it chooses them (partitions,
// consumer groups, what the redirect advertises, how attaches are
// authorised); the Hub sets the entity name, the clock, the logger and the
// state directory. The service AMQP front end calls it once, when the
// host name is known.
func (h *Hub) OpenMessaging(events eventhubs.Options) error {
	// The registry is loaded already: the queues' depths reported at Open
	// land on their identities.
	c2d, err := devicebound.Open(devicebound.Options{
		Lookup: h.lookupIdentity,
		OnCount: func(k devicebound.Key, depth int) {
			_ = h.store.SetC2DCount(k.DeviceID, k.ModuleID, depth)
		},
		Now: h.now,
		DB:  h.db,
	})
	if err != nil {
		return fmt.Errorf("emulator: state directory: %w", err)
	}
	events.EntityName = h.hubName
	events.Now = h.now
	events.Logger = h.logger
	events.DB = h.db
	ev, err := eventhubs.Open(&events)
	if err != nil {
		c2d.Close()
		return fmt.Errorf("emulator: state directory: %w", err)
	}
	h.c2d, h.events = c2d, ev
	return nil
}

// C2D returns the C2D queues, with their feedback and file notifications.
func (h *Hub) C2D() *devicebound.Hub { return h.c2d }

// Events returns the partitions of the built-in Event Hub-compatible
// endpoint.
func (h *Hub) Events() *eventhubs.Hub { return h.events }

// AppendTelemetry appends a device's (or module's) message to the
// partition of its device, stamped with the device's generation id, and
// returns once it is stored.
func (h *Hub) AppendTelemetry(ctx context.Context, ev eventhubs.Event) error {
	dev, err := h.store.GetDevice(ev.DeviceID)
	if err != nil {
		return err
	}
	ev.AuthGenerationID = dev.GenerationID
	_, _, err = h.events.Append(ctx, ev)
	return err
}

// PurgeC2D empties the C2D queue of a device and returns how many messages
// it held.
func (h *Hub) PurgeC2D(deviceID string) (int, error) {
	n, err := h.c2d.Purge(devicebound.Key{DeviceID: deviceID})
	if err != nil {
		return 0, c2dErr(err)
	}
	return n, nil
}

// c2dErr turns a queue's identity errors into the hub's.
func c2dErr(err error) error {
	switch {
	case errors.Is(err, devicebound.ErrDeviceNotFound):
		return iothub.NewError(iothub.CodeDeviceNotFound, "The device is not registered")
	case errors.Is(err, devicebound.ErrModuleNotFound):
		return iothub.NewError(iothub.CodeModuleNotFound, "The module is not registered")
	}
	return err
}
