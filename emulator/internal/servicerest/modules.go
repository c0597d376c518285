package servicerest

import (
	"net/http"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// moduleJSON is the Module object of the swagger.
type moduleJSON struct {
	ModuleID                   string    `json:"moduleId"`
	ManagedBy                  *string   `json:"managedBy"`
	DeviceID                   string    `json:"deviceId"`
	GenerationID               string    `json:"generationId"`
	ETag                       string    `json:"etag"`
	ConnectionState            string    `json:"connectionState"`
	ConnectionStateUpdatedTime string    `json:"connectionStateUpdatedTime"`
	LastActivityTime           string    `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int       `json:"cloudToDeviceMessageCount"`
	Authentication             *authJSON `json:"authentication"`
}

func toModuleJSON(m registry.Module) moduleJSON {
	return moduleJSON{
		ModuleID:                   m.ModuleID,
		ManagedBy:                  strOrNil(m.ManagedBy),
		DeviceID:                   m.DeviceID,
		GenerationID:               m.GenerationID,
		ETag:                       m.ETag,
		ConnectionState:            m.ConnectionState,
		ConnectionStateUpdatedTime: registry.FormatTime(m.ConnectionStateUpdatedTime),
		LastActivityTime:           registry.FormatTime(m.LastActivityTime),
		CloudToDeviceMessageCount:  m.CloudToDeviceMessageCount,
		Authentication:             toAuthJSON(m.Auth),
	}
}

func validateIDs(deviceID, moduleID string) error {
	if err := registry.ValidateDeviceID(deviceID); err != nil {
		return err
	}
	if moduleID == "" {
		return nil
	}
	return registry.ValidateModuleID(moduleID)
}

func (h *Handler) listModules(w http.ResponseWriter, _ *http.Request, id string) error {
	if err := registry.ValidateDeviceID(id); err != nil {
		return err
	}
	mods, err := h.hub.Registry().ListModules(id)
	if err != nil {
		return err
	}
	out := make([]moduleJSON, len(mods))
	for i, m := range mods {
		out[i] = toModuleJSON(m)
	}
	return writeJSON(w, http.StatusOK, out, "")
}

func (h *Handler) getModule(w http.ResponseWriter, _ *http.Request, id, mid string) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	m, err := h.hub.Registry().GetModule(id, mid)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toModuleJSON(m), m.ETag)
}

func (h *Handler) putModule(w http.ResponseWriter, r *http.Request, id, mid string) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	var body moduleJSON
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.DeviceID != "" && body.DeviceID != id {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The deviceId in the body ('"+body.DeviceID+"') does not match the deviceId in the path ('"+id+"')")
	}
	if body.ModuleID != "" && body.ModuleID != mid {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The moduleId in the body ('"+body.ModuleID+"') does not match the moduleId in the path ('"+mid+"')")
	}
	// Created or updated, the hub answers 200, though the REST definition
	// also lists 201: recorded sessions with a real hub (azure-sdk-for-net's
	// Azure.Iot.Hub.Service test records, ModulesClient_IdentityLifecycle)
	// show 200 on create, and the C# v2 service SDK accepts only 200.
	m, err := h.hub.PutModule(registry.ModuleSpec{
		DeviceID:  id,
		ModuleID:  mid,
		ManagedBy: deref(body.ManagedBy),
		Auth:      fromAuthJSON(body.Authentication),
	}, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toModuleJSON(m), m.ETag)
}

func (h *Handler) deleteModule(w http.ResponseWriter, r *http.Request, id, mid string) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	if err := h.hub.DeleteModule(id, mid, r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
