package servicerest

import (
	"net/http"
)

// registryStatisticsJSON is the RegistryStatistics object of the swagger.
type registryStatisticsJSON struct {
	TotalDeviceCount    int64 `json:"totalDeviceCount"`
	EnabledDeviceCount  int64 `json:"enabledDeviceCount"`
	DisabledDeviceCount int64 `json:"disabledDeviceCount"`
}

// serviceStatisticsJSON is the ServiceStatistics object of the swagger.
type serviceStatisticsJSON struct {
	ConnectedDeviceCount int64 `json:"connectedDeviceCount"`
}

func (h *Handler) registryStatistics(w http.ResponseWriter, _ *http.Request) error {
	st := h.hub.Registry().Statistics()
	return writeJSON(w, http.StatusOK, registryStatisticsJSON{
		TotalDeviceCount:    st.TotalDeviceCount,
		EnabledDeviceCount:  st.EnabledDeviceCount,
		DisabledDeviceCount: st.DisabledDeviceCount,
	}, "")
}

func (h *Handler) serviceStatistics(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, http.StatusOK, serviceStatisticsJSON{ConnectedDeviceCount: h.hub.Registry().ConnectedDeviceCount()}, "")
}
