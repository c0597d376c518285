package servicerest

import (
	"net/http"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

func (h *Handler) getTwin(w http.ResponseWriter, _ *http.Request, id, mid string) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	doc, err := h.hub.Registry().GetTwin(id, mid)
	if err != nil {
		return err
	}
	return writeTwin(w, doc)
}

// writeTwin serves PATCH (replace false) and PUT (replace true) of a twin.
func (h *Handler) writeTwin(w http.ResponseWriter, r *http.Request, id, mid string, replace bool) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	var body map[string]any
	if err := readJSON(r, &body); err != nil {
		return err
	}
	patch, err := registry.ParseTwinPatch(body)
	if err != nil {
		return err
	}
	doc, err := h.hub.WriteTwin(id, mid, patch, r.Header.Get("If-Match"), replace)
	if err != nil {
		return err
	}
	return writeTwin(w, doc)
}

func writeTwin(w http.ResponseWriter, doc map[string]any) error {
	etag, _ := doc["etag"].(string)
	return writeJSON(w, http.StatusOK, doc, etag)
}
