package core

import (
	"fmt"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Reasons given to the connections of a device or module that was deleted.
var (
	errDeviceDeleted = fmt.Errorf("emulator: the device was deleted: %w", iothub.ErrDeviceNotFound)
	errModuleDeleted = fmt.Errorf("emulator: the module was deleted: %w", iothub.ErrModuleNotFound)
)

// PutDevice creates or updates a device identity; a device it disables is
// disconnected.
func (h *Hub) PutDevice(spec registry.DeviceSpec, ifMatch string) (registry.Device, error) {
	d, _, err := h.store.PutDevice(spec, ifMatch)
	if err != nil {
		return d, err
	}
	if d.Status == registry.StatusDisabled {
		h.sessions.KickDevice(spec.DeviceID, h.disabled)
	}
	return d, nil
}

// DeleteDevice deletes a device identity: its connections (and its
// modules') end and its C2D queue is forgotten.
func (h *Hub) DeleteDevice(id, ifMatch string) error {
	if err := h.store.DeleteDevice(id, ifMatch); err != nil {
		return err
	}
	h.sessions.KickDevice(id, errDeviceDeleted)
	h.c2d.Forget(id)
	return nil
}

// PutModule creates or updates a module identity.
func (h *Hub) PutModule(spec registry.ModuleSpec, ifMatch string) (registry.Module, error) {
	m, _, err := h.store.PutModule(spec, ifMatch)
	return m, err
}

// DeleteModule deletes a module identity; its connection ends.
func (h *Hub) DeleteModule(deviceID, moduleID, ifMatch string) error {
	if err := h.store.DeleteModule(deviceID, moduleID, ifMatch); err != nil {
		return err
	}
	h.sessions.Kick(sessions.Key{DeviceID: deviceID, ModuleID: moduleID}, errModuleDeleted)
	return nil
}

// kickUnfit disconnects the sessions of a device (and its modules) that is
// now disabled or gone, and of a module that is gone: after a bulk
// operation, which may have done either to any of its entries.
func (h *Hub) kickUnfit(deviceID, moduleID string) {
	d, err := h.store.GetDevice(deviceID)
	switch {
	case err != nil:
		h.sessions.KickDevice(deviceID, errDeviceDeleted)
		h.c2d.Forget(deviceID)
	case d.Status == registry.StatusDisabled:
		h.sessions.KickDevice(deviceID, h.disabled)
	case moduleID != "":
		if _, err := h.store.GetModule(deviceID, moduleID); err != nil {
			h.sessions.Kick(sessions.Key{DeviceID: deviceID, ModuleID: moduleID}, errModuleDeleted)
		}
	}
}

// CheckCanConnect returns why the identity may not connect, or nil: it
// must exist and its device be enabled (Options.DeviceDisabled otherwise).
func (h *Hub) CheckCanConnect(key sessions.Key) error {
	dev, err := h.store.GetDevice(key.DeviceID)
	if err != nil {
		return err
	}
	if key.ModuleID != "" {
		if _, err := h.store.GetModule(key.DeviceID, key.ModuleID); err != nil {
			return err
		}
	}
	if dev.Status == registry.StatusDisabled {
		return h.disabled
	}
	return nil
}

// lookupIdentity tells the C2D queues whether an identity exists, and its
// device's generation id.
func (h *Hub) lookupIdentity(k devicebound.Key) (string, error) {
	d, err := h.store.GetDevice(k.DeviceID)
	if err != nil {
		return "", devicebound.ErrDeviceNotFound
	}
	if k.ModuleID != "" {
		if _, err := h.store.GetModule(k.DeviceID, k.ModuleID); err != nil {
			return "", devicebound.ErrModuleNotFound
		}
	}
	return d.GenerationID, nil
}

// Touch records activity of an identity (lastActivityTime).
func (h *Hub) Touch(key sessions.Key) { _ = h.store.Touch(key.DeviceID, key.ModuleID) }
