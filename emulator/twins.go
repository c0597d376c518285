package emulator

import (
	"net/http"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

func (e *Emulator) getTwin(w http.ResponseWriter, _ *http.Request, id, mid string) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	doc, err := e.hub.Registry().GetTwin(id, mid)
	if err != nil {
		return err
	}
	return writeTwin(w, doc)
}

// writeTwin serves PATCH (replace false) and PUT (replace true) of a twin.
func (e *Emulator) writeTwin(w http.ResponseWriter, r *http.Request, id, mid string, replace bool) error {
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
	doc, err := e.hub.WriteTwin(id, mid, patch, r.Header.Get("If-Match"), replace)
	if err != nil {
		return err
	}
	return writeTwin(w, doc)
}

func writeTwin(w http.ResponseWriter, doc map[string]any) error {
	etag, _ := doc["etag"].(string)
	return writeJSON(w, http.StatusOK, doc, etag)
}
