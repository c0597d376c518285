package core

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// Seed is a device registered when the hub opens.
type Seed struct {
	// DeviceID is the device's id.
	DeviceID string
	// PrimaryKey and SecondaryKey are its symmetric keys (base64).
	// Default: generated.
	PrimaryKey, SecondaryKey string
	// Disabled registers the device with status disabled.
	Disabled bool
	// Modules are ids of modules to register on the device, with generated
	// keys.
	Modules []string
	// Tags and Desired are the twin's initial tags and desired properties;
	// any JSON-encodable values.
	Tags, Desired map[string]any
}

// seed registers the seed devices; with a state directory, a device that
// is kept already is left as it is.
func (h *Hub) seed(seeds []Seed) error {
	for _, d := range seeds {
		status := registry.StatusEnabled
		if d.Disabled {
			status = registry.StatusDisabled
		}
		var a *registry.Auth
		if d.PrimaryKey != "" || d.SecondaryKey != "" {
			a = &registry.Auth{Type: registry.AuthSAS, PrimaryKey: d.PrimaryKey, SecondaryKey: d.SecondaryKey}
			for _, k := range []*string{&a.PrimaryKey, &a.SecondaryKey} {
				if *k == "" {
					key, err := registry.NewKey()
					if err != nil {
						return err
					}
					*k = key
				}
			}
		}
		if h.db != nil {
			if _, err := h.store.GetDevice(d.DeviceID); err == nil {
				continue // kept from an earlier run, as it is now
			}
		}
		if _, _, err := h.store.PutDevice(registry.DeviceSpec{DeviceID: d.DeviceID, Status: status, Auth: a}, ""); err != nil {
			return fmt.Errorf("emulator: seed device %q: %w", d.DeviceID, err)
		}
		for _, m := range d.Modules {
			if _, _, err := h.store.PutModule(registry.ModuleSpec{DeviceID: d.DeviceID, ModuleID: m}, ""); err != nil {
				return fmt.Errorf("emulator: seed module %q of device %q: %w", m, d.DeviceID, err)
			}
		}
		if len(d.Tags) == 0 && len(d.Desired) == 0 {
			continue
		}
		raw, err := json.Marshal(map[string]any{"tags": d.Tags, "properties": map[string]any{"desired": d.Desired}})
		if err != nil {
			return fmt.Errorf("emulator: seed twin of device %q: %w", d.DeviceID, err)
		}
		var body map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&body); err != nil {
			return fmt.Errorf("emulator: seed twin of device %q: %w", d.DeviceID, err)
		}
		patch, err := registry.ParseTwinPatch(body)
		if err == nil {
			_, err = h.store.UpdateTwin(d.DeviceID, "", patch, "")
		}
		if err != nil {
			return fmt.Errorf("emulator: seed twin of device %q: %w", d.DeviceID, err)
		}
	}
	return nil
}
