package servicerest

import (
	"net/http"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// exportImportDeviceJSON is the ExportImportDevice object of the swagger.
type exportImportDeviceJSON struct {
	ID             string          `json:"id"`
	ModuleID       string          `json:"moduleId"`
	ETag           string          `json:"eTag"`
	ImportMode     string          `json:"importMode"`
	Status         string          `json:"status"`
	StatusReason   *string         `json:"statusReason"`
	Authentication *authJSON       `json:"authentication"`
	TwinETag       string          `json:"twinETag"`
	Tags           map[string]any  `json:"tags"`
	Properties     map[string]any  `json:"properties"`
	Capabilities   *capabilityJSON `json:"capabilities"`
	DeviceScope    string          `json:"deviceScope"`
	ParentScopes   []string        `json:"parentScopes"`
	ManagedBy      *string         `json:"managedBy"`
}

// bulkResultJSON is the BulkRegistryOperationResult object of the swagger.
type bulkResultJSON struct {
	IsSuccessful bool          `json:"isSuccessful"`
	Errors       []opErrorJSON `json:"errors"`
	Warnings     []warningJSON `json:"warnings"`
}

// opErrorJSON is the DeviceRegistryOperationError object of the swagger.
type opErrorJSON struct {
	DeviceID    string `json:"deviceId"`
	ErrorCode   string `json:"errorCode"`
	ErrorStatus string `json:"errorStatus"`
	ModuleID    string `json:"moduleId,omitempty"`
	Operation   string `json:"operation,omitempty"`
}

// warningJSON is the DeviceRegistryOperationWarning object of the swagger.
type warningJSON struct {
	DeviceID      string `json:"deviceId"`
	WarningCode   string `json:"warningCode"`
	WarningStatus string `json:"warningStatus"`
}

// canonicalMode maps an import mode, in any case, to the hub's spelling;
// an empty mode is createOrUpdate, the default of the official SDKs.
func canonicalMode(m string) string {
	if m == "" {
		return registry.ModeCreateOrUpdate
	}
	for _, v := range []string{
		registry.ModeCreate, registry.ModeCreateOrUpdate, registry.ModeUpdate, registry.ModeUpdateIfMatchETag,
		registry.ModeDelete, registry.ModeDeleteIfMatchETag, registry.ModeUpdateTwin, registry.ModeUpdateTwinIfMatchETag,
	} {
		if strings.EqualFold(m, v) {
			return v
		}
	}
	return m
}

// bulkRegistry serves POST /devices. When every entry succeeds it answers
// 200 with isSuccessful true; when some fail it answers 400 with the same
// BulkRegistryOperationResult body, isSuccessful false and one error per
// failed entry (the entries that succeeded stay applied), as the hub does.
func (h *Handler) bulkRegistry(w http.ResponseWriter, r *http.Request) error {
	var body []exportImportDeviceJSON
	if err := readJSON(r, &body); err != nil {
		return err
	}
	ops := make([]registry.ImportOp, len(body))
	for i, d := range body {
		op := registry.ImportOp{
			Mode:         canonicalMode(d.ImportMode),
			DeviceID:     d.ID,
			ModuleID:     d.ModuleID,
			ETag:         d.ETag,
			TwinETag:     d.TwinETag,
			Status:       d.Status,
			StatusReason: deref(d.StatusReason),
			Auth:         fromAuthJSON(d.Authentication),
			DeviceScope:  d.DeviceScope,
			ParentScopes: d.ParentScopes,
			ManagedBy:    deref(d.ManagedBy),
		}
		if d.Capabilities != nil {
			op.IotEdge = d.Capabilities.IotEdge
		}
		if d.Tags != nil || d.Properties != nil {
			twin := map[string]any{}
			if d.Tags != nil {
				twin["tags"] = d.Tags
			}
			if d.Properties != nil {
				twin["properties"] = d.Properties
			}
			patch, err := registry.ParseTwinPatch(twin)
			if err != nil {
				return err
			}
			op.Twin = patch
		}
		ops[i] = op
	}
	res, err := h.hub.Bulk(ops)
	if err != nil {
		return err
	}
	out := bulkResultJSON{IsSuccessful: res.Successful(), Errors: []opErrorJSON{}, Warnings: []warningJSON{}}
	for _, oe := range res.Errors {
		out.Errors = append(out.Errors, opErrorJSON{
			DeviceID:    oe.DeviceID,
			ErrorCode:   oe.Code.String(),
			ErrorStatus: oe.Message,
			ModuleID:    oe.ModuleID,
			Operation:   oe.Operation,
		})
	}
	if out.IsSuccessful {
		return writeJSON(w, http.StatusOK, out, "")
	}
	w.Header().Set(headerErrorCode, iothub.CodeBulkRegistryOperationFailure.String())
	return writeJSON(w, http.StatusBadRequest, out, "")
}
