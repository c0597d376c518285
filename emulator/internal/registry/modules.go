package registry

import (
	"slices"
	"strings"
	"time"

	"github.com/iotkit-go/iothub"
)

// MaxModulesPerDevice is how many module identities a device may have.
const MaxModulesPerDevice = 50

// Module is a snapshot of a module identity, as GET
// /devices/{id}/modules/{mid} reports it.
type Module struct {
	DeviceID                   string
	ModuleID                   string
	ManagedBy                  string
	GenerationID               string
	ETag                       string
	ConnectionState            string
	ConnectionStateUpdatedTime time.Time
	LastActivityTime           time.Time
	CloudToDeviceMessageCount  int
	Auth                       Auth
}

// ModuleSpec is what a client sets on a module identity.
type ModuleSpec struct {
	DeviceID  string
	ModuleID  string
	ManagedBy string
	// Auth nil means sas with generated keys (on create) or the current
	// mechanism (on update).
	Auth *Auth
}

// PutModule creates or updates a module identity the way PUT
// /devices/{id}/modules/{mid} does: without ifMatch it creates the module
// (409301 ModuleAlreadyExistsOnDevice if it exists); with ifMatch it
// updates it (404010 ModuleNotFound, 412001 PreconditionFailed). The device
// must exist (404001 DeviceNotFound).
func (s *Store) PutModule(spec ModuleSpec, ifMatch string) (mod Module, created bool, err error) {
	if err := ValidateDeviceID(spec.DeviceID); err != nil {
		return Module{}, false, err
	}
	if err := ValidateModuleID(spec.ModuleID); err != nil {
		return Module{}, false, err
	}
	tx := s.lockWrite()
	defer tx.end(&err)
	tx.touch(spec.DeviceID)
	r := s.devices[spec.DeviceID]
	if r == nil {
		return Module{}, false, deviceNotFound(spec.DeviceID)
	}
	m := r.modules[spec.ModuleID]
	if strings.TrimSpace(ifMatch) == "" {
		if m != nil {
			return Module{}, false, errorf(iothub.CodeModuleAlreadyExistsOnDevice, "A module with ID '%s' is already registered on device '%s'", spec.ModuleID, spec.DeviceID)
		}
		m, err = s.createModuleLocked(r, spec)
		if err != nil {
			return Module{}, false, err
		}
		return m.mod, true, nil
	}
	if m == nil {
		return Module{}, false, moduleNotFound(spec.DeviceID, spec.ModuleID)
	}
	if !etagMatches(ifMatch, m.mod.ETag) {
		return Module{}, false, preconditionFailed("module")
	}
	if err := s.updateModuleLocked(m, spec); err != nil {
		return Module{}, false, err
	}
	return m.mod, false, nil
}

func (s *Store) createModuleLocked(r *deviceRecord, spec ModuleSpec) (*moduleRecord, error) {
	if len(r.modules) >= MaxModulesPerDevice {
		return nil, errorf(iothub.CodeIotHubQuotaExceeded, "Device '%s' already has the maximum of %d modules", spec.DeviceID, MaxModulesPerDevice)
	}
	auth, err := normalizeAuth(spec.Auth, nil)
	if err != nil {
		return nil, err
	}
	m := &moduleRecord{mod: Module{
		DeviceID:        spec.DeviceID,
		ModuleID:        spec.ModuleID,
		ManagedBy:       spec.ManagedBy,
		GenerationID:    s.newGenerationID(),
		ETag:            s.newIdentityETag(),
		ConnectionState: Disconnected,
		Auth:            auth,
	}}
	m.twin = s.newTwin()
	if r.modules == nil {
		r.modules = make(map[string]*moduleRecord, 1) // most devices have none
	}
	r.modules[spec.ModuleID] = m
	s.moduleKeys.insert(ModuleKey(spec.DeviceID, spec.ModuleID))
	return m, nil
}

func (s *Store) updateModuleLocked(m *moduleRecord, spec ModuleSpec) error {
	auth, err := normalizeAuth(spec.Auth, &m.mod.Auth)
	if err != nil {
		return err
	}
	m.mod.Auth = auth
	m.mod.ManagedBy = spec.ManagedBy
	m.mod.ETag = s.newIdentityETag()
	return nil
}

// GetModule returns a module, or 404001 DeviceNotFound / 404010
// ModuleNotFound.
func (s *Store) GetModule(deviceID, moduleID string) (Module, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.devices[deviceID]
	if r == nil {
		return Module{}, deviceNotFound(deviceID)
	}
	m := r.modules[moduleID]
	if m == nil {
		return Module{}, moduleNotFound(deviceID, moduleID)
	}
	return m.mod, nil
}

// ListModules returns the modules of a device in id order, or 404001
// DeviceNotFound.
func (s *Store) ListModules(deviceID string) ([]Module, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.devices[deviceID]
	if r == nil {
		return nil, deviceNotFound(deviceID)
	}
	ids := make([]string, 0, len(r.modules))
	for id := range r.modules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]Module, 0, len(ids))
	for _, id := range ids {
		out = append(out, r.modules[id].mod)
	}
	return out, nil
}

// DeleteModule deletes a module and its twin. An empty ifMatch or "*"
// deletes whatever the ETag; another value must match.
func (s *Store) DeleteModule(deviceID, moduleID, ifMatch string) (err error) {
	tx := s.lockWrite()
	defer tx.end(&err)
	tx.touch(deviceID)
	r := s.devices[deviceID]
	if r == nil {
		return deviceNotFound(deviceID)
	}
	m := r.modules[moduleID]
	if m == nil {
		return moduleNotFound(deviceID, moduleID)
	}
	if strings.TrimSpace(ifMatch) != "" && !etagMatches(ifMatch, m.mod.ETag) {
		return preconditionFailed("module")
	}
	delete(r.modules, moduleID)
	s.moduleKeys.remove(ModuleKey(deviceID, moduleID))
	return nil
}
