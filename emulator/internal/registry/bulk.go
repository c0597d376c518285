package registry

import (
	"errors"
	"strings"

	"github.com/iotkit-go/iothub"
)

// MaxBulkOperations is how many identities one bulk call may name.
const MaxBulkOperations = 100

// Import modes of a bulk registry operation, as the hub spells them.
const (
	ModeCreate                = "create"
	ModeUpdate                = "update"
	ModeUpdateIfMatchETag     = "updateIfMatchETag"
	ModeDelete                = "delete"
	ModeDeleteIfMatchETag     = "deleteIfMatchETag"
	ModeUpdateTwin            = "updateTwin"
	ModeUpdateTwinIfMatchETag = "updateTwinIfMatchETag"
	// ModeCreateOrUpdate is the import jobs' default mode, which the
	// official SDKs send when no mode was chosen.
	ModeCreateOrUpdate = "createOrUpdate"
)

var importModes = []string{ModeCreate, ModeCreateOrUpdate, ModeUpdate, ModeUpdateIfMatchETag, ModeDelete, ModeDeleteIfMatchETag, ModeUpdateTwin, ModeUpdateTwinIfMatchETag}

// ImportOp is one entry of a bulk registry operation (an ExportImportDevice
// of the swagger).
type ImportOp struct {
	Mode         string
	DeviceID     string
	ModuleID     string // "" for a device
	ETag         string
	TwinETag     string
	Status       string
	StatusReason string
	Auth         *Auth
	IotEdge      bool
	DeviceScope  string
	ParentScopes []string
	ManagedBy    string
	// Twin holds the tags and desired properties to write (create, update
	// twin); nil fields are left alone.
	Twin TwinPatch
}

// OpError is why one entry of a bulk operation failed.
type OpError struct {
	DeviceID  string
	ModuleID  string
	Code      iothub.ErrorCode
	Message   string
	Operation string
}

// BulkResult is the outcome of a bulk registry operation.
type BulkResult struct {
	Errors []OpError
}

// Successful reports whether every entry succeeded.
func (r BulkResult) Successful() bool { return len(r.Errors) == 0 }

// Bulk runs up to 100 registry operations, as POST /devices does. The whole
// call fails (nothing applied) when it is empty, too long (413002
// TooManyDevices), names an identity twice (400011
// DeviceDefinedMultipleTimes) or uses an unknown import mode; otherwise
// each entry is applied on its own, in order, and the entries that failed
// are listed in the result while the others stay applied.
func (s *Store) Bulk(ops []ImportOp) (_ BulkResult, err error) {
	if len(ops) == 0 {
		return BulkResult{}, errorf(iothub.CodeArgumentInvalid, "The bulk operation names no devices")
	}
	if len(ops) > MaxBulkOperations {
		return BulkResult{}, errorf(iothub.CodeTooManyDevices, "A bulk operation may name at most %d devices, this one names %d", MaxBulkOperations, len(ops))
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		k := ModuleKey(op.DeviceID, op.ModuleID)
		if seen[k] {
			return BulkResult{}, errorf(iothub.CodeDeviceDefinedMultipleTimes, "Device '%s' is defined multiple times in the bulk operation", op.DeviceID)
		}
		seen[k] = true
		if !validMode(op.Mode) {
			return BulkResult{}, errorf(iothub.CodeArgumentInvalid, "Import mode '%s' of device '%s' is invalid: use one of %s", op.Mode, op.DeviceID, strings.Join(importModes, ", "))
		}
	}
	var res BulkResult
	tx := s.lockWrite()
	defer tx.end(&err)
	for _, op := range ops {
		tx.touch(op.DeviceID)
		if err := s.applyOpLocked(op); err != nil {
			e := OpError{DeviceID: op.DeviceID, ModuleID: op.ModuleID, Operation: op.Mode, Code: iothub.CodeServerError, Message: err.Error()}
			var he *iothub.Error
			if errors.As(err, &he) {
				e.Code, e.Message = he.Code, he.Message
			}
			res.Errors = append(res.Errors, e)
		}
	}
	return res, nil
}

func validMode(m string) bool {
	for _, v := range importModes {
		if m == v {
			return true
		}
	}
	return false
}

func (s *Store) applyOpLocked(op ImportOp) error {
	if err := ValidateDeviceID(op.DeviceID); err != nil {
		return err
	}
	if op.ModuleID != "" {
		if err := ValidateModuleID(op.ModuleID); err != nil {
			return err
		}
		return s.applyModuleOpLocked(op)
	}
	r := s.devices[op.DeviceID]
	mode := op.Mode
	if mode == ModeCreateOrUpdate {
		mode = ModeCreate
		if r != nil {
			mode = ModeUpdate
		}
	}
	switch mode {
	case ModeCreate:
		if r != nil {
			return errorf(iothub.CodeDeviceAlreadyExists, "A device with ID '%s' is already registered", op.DeviceID)
		}
		status, err := validateStatus(op.Status)
		if err != nil {
			return err
		}
		if err := s.checkTwinFits(op.Twin); err != nil {
			return err
		}
		r, err = s.createDeviceLocked(op.deviceSpec(), status)
		if err != nil {
			return err
		}
		if op.Twin.Tags != nil || op.Twin.Desired != nil {
			return s.applyTwinLocked(&r.twin, op.Twin, false)
		}
		return nil
	case ModeUpdate, ModeUpdateIfMatchETag:
		if r == nil {
			return deviceNotFound(op.DeviceID)
		}
		if mode == ModeUpdateIfMatchETag && !etagMatches(op.ETag, r.dev.ETag) {
			return preconditionFailed("device")
		}
		status, err := validateStatus(op.Status)
		if err != nil {
			return err
		}
		if err := s.updateDeviceLocked(r, op.deviceSpec(), status); err != nil {
			return err
		}
		if op.Twin.Tags != nil || op.Twin.Desired != nil {
			return s.applyTwinLocked(&r.twin, op.Twin, false)
		}
		return nil
	case ModeDelete, ModeDeleteIfMatchETag:
		if r == nil {
			return deviceNotFound(op.DeviceID)
		}
		if op.Mode == ModeDeleteIfMatchETag && !etagMatches(op.ETag, r.dev.ETag) {
			return preconditionFailed("device")
		}
		s.deleteDeviceLocked(r)
		return nil
	default: // twin modes
		if r == nil {
			return deviceNotFound(op.DeviceID)
		}
		if op.Mode == ModeUpdateTwinIfMatchETag && !etagMatches(op.TwinETag, r.twin.etag) {
			return preconditionFailed("twin")
		}
		return s.applyTwinLocked(&r.twin, op.Twin, false)
	}
}

func (s *Store) applyModuleOpLocked(op ImportOp) error {
	r := s.devices[op.DeviceID]
	if r == nil {
		return deviceNotFound(op.DeviceID)
	}
	m := r.modules[op.ModuleID]
	spec := ModuleSpec{DeviceID: op.DeviceID, ModuleID: op.ModuleID, ManagedBy: op.ManagedBy, Auth: op.Auth}
	mode := op.Mode
	if mode == ModeCreateOrUpdate {
		mode = ModeCreate
		if m != nil {
			mode = ModeUpdate
		}
	}
	switch mode {
	case ModeCreate:
		if m != nil {
			return errorf(iothub.CodeModuleAlreadyExistsOnDevice, "A module with ID '%s' is already registered on device '%s'", op.ModuleID, op.DeviceID)
		}
		if err := s.checkTwinFits(op.Twin); err != nil {
			return err
		}
		m, err := s.createModuleLocked(r, spec)
		if err != nil {
			return err
		}
		if op.Twin.Tags != nil || op.Twin.Desired != nil {
			return s.applyTwinLocked(&m.twin, op.Twin, false)
		}
		return nil
	}
	if m == nil {
		return moduleNotFound(op.DeviceID, op.ModuleID)
	}
	switch mode {
	case ModeUpdate, ModeUpdateIfMatchETag:
		if mode == ModeUpdateIfMatchETag && !etagMatches(op.ETag, m.mod.ETag) {
			return preconditionFailed("module")
		}
		return s.updateModuleLocked(m, spec)
	case ModeDelete, ModeDeleteIfMatchETag:
		if op.Mode == ModeDeleteIfMatchETag && !etagMatches(op.ETag, m.mod.ETag) {
			return preconditionFailed("module")
		}
		delete(r.modules, op.ModuleID)
		s.moduleKeys.remove(ModuleKey(op.DeviceID, op.ModuleID))
		return nil
	default:
		if op.Mode == ModeUpdateTwinIfMatchETag && !etagMatches(op.TwinETag, m.twin.etag) {
			return preconditionFailed("twin")
		}
		return s.applyTwinLocked(&m.twin, op.Twin, false)
	}
}

// checkTwinFits rejects a twin for a new identity that breaks the limits,
// before the identity is created.
func (s *Store) checkTwinFits(p TwinPatch) error {
	if err := checkSize("tags", p.Tags, MaxTagsSize); err != nil {
		return err
	}
	return checkSize("desired properties", p.Desired, MaxPropertiesSize)
}

func (op ImportOp) deviceSpec() DeviceSpec {
	return DeviceSpec{
		DeviceID: op.DeviceID, Status: op.Status, StatusReason: op.StatusReason, Auth: op.Auth,
		IotEdge: op.IotEdge, DeviceScope: op.DeviceScope, ParentScopes: op.ParentScopes,
	}
}
