package core

import (
	"bytes"
	"encoding/json"

	"github.com/iotkit-go/iothub"

	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// WriteTwin writes a twin (a PATCH, or with replace a PUT) and sends the
// change of its desired properties to the connected device subscribed to
// them, as the hub does: after a PATCH the desired part of the patch, after
// a PUT the whole new desired properties, with the new desired $version.
// Writes and notifications are serialised so that devices see them in
// $version order. It returns the new twin.
func (h *Hub) WriteTwin(id, mid string, patch registry.TwinPatch, ifMatch string, replace bool) (map[string]any, error) {
	h.twinWrites.Lock()
	defer h.twinWrites.Unlock()
	var doc map[string]any
	var err error
	if replace {
		doc, err = h.store.ReplaceTwin(id, mid, patch, ifMatch)
	} else {
		doc, err = h.store.UpdateTwin(id, mid, patch, ifMatch)
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
	h.sessions.NotifyDesired(sessions.Key{DeviceID: id, ModuleID: mid}, sent, version)
	return doc, nil
}

// Bulk applies a bulk registry operation: the desired properties it merges
// into existing twins reach the devices subscribed to them, as a twin PATCH
// does, and the devices and modules it disables or deletes are
// disconnected.
func (h *Hub) Bulk(ops []registry.ImportOp) (registry.BulkResult, error) {
	h.twinWrites.Lock()
	res, err := h.store.Bulk(ops)
	if err == nil {
		h.notifyBulkDesired(ops, res)
	}
	h.twinWrites.Unlock()
	if err != nil {
		return res, err
	}
	for _, op := range ops {
		h.kickUnfit(op.DeviceID, op.ModuleID)
	}
	return res, nil
}

// notifyBulkDesired sends the desired properties that a bulk call merged
// into existing twins to the devices subscribed to them; twinWrites held.
func (h *Hub) notifyBulkDesired(ops []registry.ImportOp, res registry.BulkResult) {
	failed := make(map[sessions.Key]bool, len(res.Errors))
	for _, oe := range res.Errors {
		failed[sessions.Key{DeviceID: oe.DeviceID, ModuleID: oe.ModuleID}] = true
	}
	for _, op := range ops {
		key := sessions.Key{DeviceID: op.DeviceID, ModuleID: op.ModuleID}
		if len(op.Twin.Desired) == 0 || failed[key] || op.Mode == registry.ModeDelete || op.Mode == registry.ModeDeleteIfMatchETag {
			continue
		}
		doc, err := h.store.GetTwin(op.DeviceID, op.ModuleID)
		if err != nil {
			continue
		}
		props, _ := doc["properties"].(map[string]any)
		desired, _ := props["desired"].(map[string]any)
		version, _ := desired["$version"].(int64)
		h.sessions.NotifyDesired(key, op.Twin.Desired, version)
	}
}

// DeviceTwin returns the twin as a device sees it, in JSON: desired and
// reported, each with "$version" and without "$metadata"; tags never reach
// devices.
func (h *Hub) DeviceTwin(key sessions.Key) ([]byte, error) {
	doc, err := h.store.GetTwin(key.DeviceID, key.ModuleID)
	if err != nil {
		return nil, err
	}
	props, _ := doc["properties"].(map[string]any)
	view := map[string]any{"desired": props["desired"], "reported": props["reported"]}
	for _, sec := range view {
		if m, ok := sec.(map[string]any); ok {
			delete(m, "$metadata")
		}
	}
	return json.Marshal(view)
}

// UpdateReportedJSON is UpdateReported for a patch as a device sends it,
// in JSON: anything but a JSON object is refused with 400004
// ArgumentInvalid.
func (h *Hub) UpdateReportedJSON(key sessions.Key, patch []byte) (int64, error) {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil || body == nil {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "The reported properties are not a JSON object")
	}
	return h.UpdateReported(key, body)
}

// UpdateReported merges a device's patch (decoded with json.Number) into
// its reported properties and returns their new $version; the device's
// activity is recorded when it succeeds.
func (h *Hub) UpdateReported(key sessions.Key, patch map[string]any) (int64, error) {
	v, err := h.store.UpdateReported(key.DeviceID, key.ModuleID, patch)
	if err == nil {
		h.Touch(key)
	}
	return v, err
}
