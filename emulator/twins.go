package emulator

import (
	"net/http"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

func (e *Emulator) getTwin(w http.ResponseWriter, _ *http.Request, id, mid string) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	doc, err := e.store.GetTwin(id, mid)
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
	doc, err := e.writeTwinAndNotify(id, mid, patch, r.Header.Get("If-Match"), replace)
	if err != nil {
		return err
	}
	return writeTwin(w, doc)
}

// writeTwinAndNotify writes a twin and sends the change of its desired
// properties to the connected device subscribed to them, as the hub does:
// after a PATCH the desired part of the patch, after a PUT the whole new
// desired properties, with the new desired $version. Writes and
// notifications are serialised so that devices see them in $version order.
func (e *Emulator) writeTwinAndNotify(id, mid string, patch registry.TwinPatch, ifMatch string, replace bool) (map[string]any, error) {
	e.twinWrites.Lock()
	defer e.twinWrites.Unlock()
	var doc map[string]any
	var err error
	if replace {
		doc, err = e.store.ReplaceTwin(id, mid, patch, ifMatch)
	} else {
		doc, err = e.store.UpdateTwin(id, mid, patch, ifMatch)
	}
	if err != nil || (!replace && len(patch.Desired) == 0) {
		return doc, err // no change of desired properties: no notification
	}
	props, _ := doc["properties"].(map[string]any)
	desired, _ := props["desired"].(map[string]any)
	version, _ := desired["$version"].(int64)
	sent := patch.Desired
	if replace {
		sent = make(map[string]any, len(desired))
		for k, v := range desired {
			if k != "$metadata" && k != "$version" {
				sent[k] = v
			}
		}
	}
	e.sessions.NotifyDesired(sessions.Key{DeviceID: id, ModuleID: mid}, sent, version)
	return doc, nil
}

func writeTwin(w http.ResponseWriter, doc map[string]any) error {
	etag, _ := doc["etag"].(string)
	return writeJSON(w, http.StatusOK, doc, etag)
}
