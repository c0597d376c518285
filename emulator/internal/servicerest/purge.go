package servicerest

import (
	"net/http"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// purgeResultJSON is PurgeMessageQueueResult.
type purgeResultJSON struct {
	TotalMessagesPurged int     `json:"totalMessagesPurged"`
	DeviceID            string  `json:"deviceId"`
	ModuleID            *string `json:"moduleId"`
}

// purgeCommands serves DELETE /devices/{id}/commands.
func (h *Handler) purgeCommands(w http.ResponseWriter, _ *http.Request, id string) error {
	if err := registry.ValidateDeviceID(id); err != nil {
		return err
	}
	n, err := h.hub.PurgeC2D(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, purgeResultJSON{TotalMessagesPurged: n, DeviceID: id}, "")
}
