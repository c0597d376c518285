package registry

import (
	"slices"
	"strings"
	"time"

	"github.com/iotkit-go/iothub"
)

// Device is a snapshot of a device identity, as GET /devices/{id} reports it.
type Device struct {
	DeviceID                   string
	GenerationID               string
	ETag                       string
	Status                     string
	StatusReason               string
	StatusUpdatedTime          time.Time
	ConnectionState            string
	ConnectionStateUpdatedTime time.Time
	LastActivityTime           time.Time
	CloudToDeviceMessageCount  int
	Auth                       Auth
	IotEdge                    bool
	DeviceScope                string
	ParentScopes               []string
}

func (d Device) clone() Device {
	d.ParentScopes = slices.Clone(d.ParentScopes)
	return d
}

// DeviceSpec is what a client sets on a device identity.
type DeviceSpec struct {
	DeviceID     string
	Status       string // "" means enabled
	StatusReason string
	// Auth nil means sas with generated keys (on create) or the current
	// mechanism (on update).
	Auth         *Auth
	IotEdge      bool
	DeviceScope  string
	ParentScopes []string
}

// IfMatchAny is the If-Match value that matches any current ETag.
const IfMatchAny = "*"

// etagMatches reports whether an If-Match value (quoted, weak or bare)
// names current.
func etagMatches(ifMatch, current string) bool {
	v := strings.TrimSpace(ifMatch)
	if v == IfMatchAny {
		return true
	}
	for part := range strings.SplitSeq(v, ",") {
		p := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = p[1 : len(p)-1]
		}
		if p == current || p == IfMatchAny {
			return true
		}
	}
	return false
}

// PutDevice creates or updates a device identity the way PUT /devices/{id}
// does. Without ifMatch it creates the device, or fails with 409001
// DeviceAlreadyExists; with ifMatch ("*" or an ETag) it updates the device,
// or fails with 404001 DeviceNotFound or 412001 PreconditionFailed. created
// says which happened.
func (s *Store) PutDevice(spec DeviceSpec, ifMatch string) (dev Device, created bool, err error) {
	if err := ValidateDeviceID(spec.DeviceID); err != nil {
		return Device{}, false, err
	}
	status, err := validateStatus(spec.Status)
	if err != nil {
		return Device{}, false, err
	}
	if len(spec.StatusReason) > MaxIDLength {
		return Device{}, false, errorf(iothub.CodeArgumentInvalid, "StatusReason is longer than %d characters", MaxIDLength)
	}
	tx := s.lockWrite()
	defer tx.end(&err)
	tx.touch(spec.DeviceID)
	r := s.devices[spec.DeviceID]
	if strings.TrimSpace(ifMatch) == "" {
		if r != nil {
			return Device{}, false, errorf(iothub.CodeDeviceAlreadyExists, "A device with ID '%s' is already registered", spec.DeviceID)
		}
		r, err = s.createDeviceLocked(spec, status)
		if err != nil {
			return Device{}, false, err
		}
		return r.dev.clone(), true, nil
	}
	if r == nil {
		return Device{}, false, deviceNotFound(spec.DeviceID)
	}
	if !etagMatches(ifMatch, r.dev.ETag) {
		return Device{}, false, preconditionFailed("device")
	}
	if err := s.updateDeviceLocked(r, spec, status); err != nil {
		return Device{}, false, err
	}
	return r.dev.clone(), false, nil
}

func (s *Store) createDeviceLocked(spec DeviceSpec, status string) (*deviceRecord, error) {
	auth, err := normalizeAuth(spec.Auth, nil)
	if err != nil {
		return nil, err
	}
	r := &deviceRecord{
		dev: Device{
			DeviceID:        spec.DeviceID,
			GenerationID:    s.newGenerationID(),
			ETag:            s.newIdentityETag(),
			Status:          status,
			StatusReason:    spec.StatusReason,
			ConnectionState: Disconnected,
			Auth:            auth,
			IotEdge:         spec.IotEdge,
			DeviceScope:     spec.DeviceScope,
			ParentScopes:    slices.Clone(spec.ParentScopes),
		},
	}
	if spec.IotEdge {
		r.dev.DeviceScope = edgeScope(r.dev)
	}
	r.twin = s.newTwin()
	s.devices[spec.DeviceID] = r
	s.deviceKeys.insert(spec.DeviceID)
	return r, nil
}

func (s *Store) updateDeviceLocked(r *deviceRecord, spec DeviceSpec, status string) error {
	auth, err := normalizeAuth(spec.Auth, &r.dev.Auth)
	if err != nil {
		return err
	}
	if status != r.dev.Status {
		r.dev.Status = status
		r.dev.StatusUpdatedTime = s.now().UTC()
	}
	r.dev.StatusReason = spec.StatusReason
	r.dev.Auth = auth
	switch {
	case spec.IotEdge && !r.dev.IotEdge:
		r.dev.DeviceScope = edgeScope(r.dev)
	case !spec.IotEdge:
		r.dev.DeviceScope = spec.DeviceScope
	}
	r.dev.IotEdge = spec.IotEdge
	r.dev.ParentScopes = slices.Clone(spec.ParentScopes)
	r.dev.ETag = s.newIdentityETag()
	return nil
}

// edgeScope is the scope the hub generates for an IoT Edge device; it stays
// the same for the device's life, whatever an update says.
func edgeScope(d Device) string {
	return "ms-azure-iot-edge://" + d.DeviceID + "-" + d.GenerationID
}

// GetDevice returns device id, or 404001 DeviceNotFound.
func (s *Store) GetDevice(id string) (Device, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.devices[id]
	if r == nil {
		return Device{}, deviceNotFound(id)
	}
	return r.dev.clone(), nil
}

// DeleteDevice deletes device id with its modules, twins and session. An
// empty ifMatch or "*" deletes whatever the ETag; another value must match
// (412001 PreconditionFailed otherwise).
func (s *Store) DeleteDevice(id, ifMatch string) (err error) {
	tx := s.lockWrite()
	defer tx.end(&err)
	tx.touch(id)
	r := s.devices[id]
	if r == nil {
		return deviceNotFound(id)
	}
	if strings.TrimSpace(ifMatch) != "" && !etagMatches(ifMatch, r.dev.ETag) {
		return preconditionFailed("device")
	}
	s.deleteDeviceLocked(r)
	return nil
}

func (s *Store) deleteDeviceLocked(r *deviceRecord) {
	id := r.dev.DeviceID
	for m := range r.modules {
		s.moduleKeys.remove(ModuleKey(id, m))
	}
	if r.dev.ConnectionState == Connected {
		s.connected--
	}
	delete(s.devices, id)
	s.deviceKeys.remove(id)
}

// ListDevices returns up to limit devices in id order.
func (s *Store) ListDevices(limit int) []Device {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Device, 0, min(limit, s.deviceKeys.len()))
	s.deviceKeys.after("", func(k string) bool {
		if len(out) >= limit {
			return false
		}
		out = append(out, s.devices[k].dev.clone())
		return true
	})
	return out
}
