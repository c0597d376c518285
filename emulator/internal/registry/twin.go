package registry

import (
	"slices"
	"strings"
	"time"
)

// twinState is a device or module twin.
type twinState struct {
	// modelID is the IoT Plug and Play model the device announced when it
	// connected ("" for none).
	modelID  string
	tags     map[string]any
	desired  section
	reported section
	version  int64
	etag     string
}

// section is the desired or the reported properties with their metadata.
type section struct {
	props   map[string]any
	meta    *metaNode
	version int64
}

// metaNode is the $metadata of one property: when it last changed and, for
// desired properties, at which $version.
type metaNode struct {
	updated time.Time
	version int64
	// children are the metadata of an object's properties, sorted by
	// name: a slice, not a map, because most objects have a few
	// properties and a registry holds a million of them (a small map
	// costs some 300 bytes, the slice 24 a child).
	children []metaChild
}

// metaChild is a named child of a metaNode.
type metaChild struct {
	name string
	node *metaNode
}

// find returns the index of name among n's children, and whether it is
// there.
func (n *metaNode) find(name string) (int, bool) {
	return slices.BinarySearchFunc(n.children, name, func(c metaChild, name string) int { return strings.Compare(c.name, name) })
}

// child returns the metadata of property name; nil if none.
func (n *metaNode) child(name string) *metaNode {
	if i, ok := n.find(name); ok {
		return n.children[i].node
	}
	return nil
}

// setChild sets the metadata of property name.
func (n *metaNode) setChild(name string, c *metaNode) {
	i, ok := n.find(name)
	if ok {
		n.children[i].node = c
		return
	}
	n.children = slices.Insert(n.children, i, metaChild{name, c})
}

// deleteChild removes the metadata of property name.
func (n *metaNode) deleteChild(name string) {
	if i, ok := n.find(name); ok {
		n.children = slices.Delete(n.children, i, i+1)
	}
}

func (s *Store) newTwin() twinState {
	now := s.now().UTC()
	return twinState{
		// No maps yet: writes copy the maps they change (copyObject of nil
		// is an empty map), and most twins of a large registry keep some
		// of the three empty.
		desired:  section{meta: &metaNode{updated: now, version: 1}, version: 1},
		reported: section{meta: &metaNode{updated: now}, version: 1},
		version:  1,
		etag:     s.newTwinETag(),
	}
}

// FormatTime writes a time the way the hub does: UTC with seven fractional
// digits, and "0001-01-01T00:00:00Z" for a time that never happened.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyObject(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func copyObject(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = deepCopy(e)
	}
	return out
}

// merge applies a JSON merge patch: objects merge, null deletes, anything
// else replaces.
func merge(dst, patch map[string]any) {
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(dst, k)
		case map[string]any:
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
				dst[k] = dm
			}
			merge(dm, pv)
		default:
			dst[k] = deepCopy(v)
		}
	}
}

// apply records in the metadata that patch changed the properties at now.
func (n *metaNode) apply(patch map[string]any, now time.Time, version int64) {
	n.updated, n.version = now, version
	for k, v := range patch {
		if v == nil {
			n.deleteChild(k)
			continue
		}
		c := n.child(k)
		pm, isObject := v.(map[string]any)
		if c == nil || !isObject {
			c = &metaNode{}
			n.setChild(k, c)
		}
		if isObject {
			c.apply(pm, now, version)
		} else {
			c.updated, c.version = now, version
		}
	}
}

// freshMeta builds the metadata of properties all written at now.
func freshMeta(props map[string]any, now time.Time, version int64) *metaNode {
	n := &metaNode{}
	n.apply(props, now, version)
	return n
}

func (n *metaNode) render(withVersion bool) map[string]any {
	m := make(map[string]any, len(n.children)+2)
	m["$lastUpdated"] = FormatTime(n.updated)
	if withVersion {
		m["$lastUpdatedVersion"] = n.version
	}
	for _, c := range n.children {
		m[c.name] = c.node.render(withVersion)
	}
	return m
}

func (sec *section) render(withVersion bool) map[string]any {
	out := copyObject(sec.props)
	out[metadataKey] = sec.meta.render(withVersion)
	out[versionKey] = sec.version
	return out
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// deviceTwinDoc is the Twin object of the swagger for a device; mu held.
func deviceTwinDoc(r *deviceRecord) map[string]any {
	return writeDeviceTwin(make(map[string]any, 20), r, nil)
}

// moduleTwinDoc is the Twin object of the swagger for a module of r; mu
// held.
func moduleTwinDoc(_ *deviceRecord, m *moduleRecord) map[string]any {
	return writeModuleTwin(make(map[string]any, 16), m, nil)
}

// writeDeviceTwin writes the fields of a device's twin document into doc
// and returns it: with v nil, a document of its own (objects copied, the
// properties with their $metadata and $version); with a view, the
// record's maps shared and the view's reused (see twinView). mu held.
func writeDeviceTwin(doc map[string]any, r *deviceRecord, v *twinView) map[string]any {
	d := &r.dev
	writeTwin(doc, &r.twin, d.Auth, d.ETag, d.ConnectionState, d.LastActivityTime, d.CloudToDeviceMessageCount, v)
	doc["deviceId"] = d.DeviceID
	doc["status"] = d.Status
	doc["statusUpdateTime"] = FormatTime(d.StatusUpdatedTime)
	caps := v.capsObject()
	caps["iotEdge"] = d.IotEdge
	doc["capabilities"] = caps
	if d.StatusReason != "" {
		doc["statusReason"] = d.StatusReason
	}
	if d.DeviceScope != "" {
		doc["deviceScope"] = d.DeviceScope
	}
	if len(d.ParentScopes) > 0 {
		ps := make([]any, len(d.ParentScopes))
		for i, p := range d.ParentScopes {
			ps[i] = p
		}
		doc["parentScopes"] = ps
	}
	return doc
}

// writeModuleTwin is writeDeviceTwin for a module.
func writeModuleTwin(doc map[string]any, m *moduleRecord, v *twinView) map[string]any {
	md := &m.mod
	writeTwin(doc, &m.twin, md.Auth, md.ETag, md.ConnectionState, md.LastActivityTime, md.CloudToDeviceMessageCount, v)
	doc["deviceId"] = md.DeviceID
	doc["moduleId"] = md.ModuleID
	doc["status"] = StatusEnabled
	doc["statusUpdateTime"] = FormatTime(time.Time{})
	return doc
}

// writeTwin writes the fields devices and modules share.
func writeTwin(doc map[string]any, t *twinState, a Auth, etag, state string, lastActivity time.Time, c2d int, v *twinView) {
	doc["deviceEtag"] = etag
	doc["connectionState"] = state
	doc["lastActivityTime"] = FormatTime(lastActivity)
	doc["cloudToDeviceMessageCount"] = int64(c2d)
	doc["authenticationType"] = a.Type
	thumb := v.thumbObject()
	thumb["primaryThumbprint"] = nilIfEmpty(a.PrimaryThumbprint)
	thumb["secondaryThumbprint"] = nilIfEmpty(a.SecondaryThumbprint)
	doc["x509Thumbprint"] = thumb
	doc["modelId"] = t.modelID
	doc["etag"] = t.etag
	doc["version"] = t.version
	props := v.propsObject()
	if v == nil {
		if len(t.tags) > 0 {
			doc["tags"] = copyObject(t.tags)
		}
		props["desired"] = t.desired.render(true)
		props["reported"] = t.reported.render(false)
	} else {
		if len(t.tags) > 0 {
			doc["tags"] = t.tags
		}
		props["desired"] = t.desired.props
		props["reported"] = t.reported.props
	}
	doc["properties"] = props
}

// twinLocked finds a twin; mu held.
func (s *Store) twinLocked(deviceID, moduleID string) (*twinState, func() map[string]any, error) {
	r := s.devices[deviceID]
	if r == nil {
		return nil, nil, deviceNotFound(deviceID)
	}
	if moduleID == "" {
		return &r.twin, func() map[string]any { return deviceTwinDoc(r) }, nil
	}
	m := r.modules[moduleID]
	if m == nil {
		return nil, nil, moduleNotFound(deviceID, moduleID)
	}
	return &m.twin, func() map[string]any { return moduleTwinDoc(r, m) }, nil
}

// GetTwin returns the twin of a device (moduleID "") or module as the JSON
// object GET /twins/{id} answers.
func (s *Store) GetTwin(deviceID, moduleID string) (map[string]any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, doc, err := s.twinLocked(deviceID, moduleID)
	if err != nil {
		return nil, err
	}
	return doc(), nil
}

// UpdateTwin merges a patch into the tags and desired properties (PATCH
// /twins/{id}): objects merge, null deletes. ifMatch "" or "*" matches any
// twin ETag.
func (s *Store) UpdateTwin(deviceID, moduleID string, p TwinPatch, ifMatch string) (map[string]any, error) {
	return s.writeTwin(deviceID, moduleID, p, ifMatch, false)
}

// ReplaceTwin replaces the tags and desired properties (PUT /twins/{id});
// what the patch leaves out becomes empty.
func (s *Store) ReplaceTwin(deviceID, moduleID string, p TwinPatch, ifMatch string) (map[string]any, error) {
	return s.writeTwin(deviceID, moduleID, p, ifMatch, true)
}

func (s *Store) writeTwin(deviceID, moduleID string, p TwinPatch, ifMatch string, replace bool) (_ map[string]any, err error) {
	tx := s.lockWrite()
	defer tx.end(&err)
	tx.touch(deviceID)
	t, doc, err := s.twinLocked(deviceID, moduleID)
	if err != nil {
		return nil, err
	}
	if m := strings.TrimSpace(ifMatch); m != "" && !etagMatches(m, t.etag) {
		return nil, preconditionFailed("twin")
	}
	if err := s.applyTwinLocked(t, p, replace); err != nil {
		return nil, err
	}
	return doc(), nil
}

// applyTwinLocked changes t or, when a limit would be broken, nothing.
func (s *Store) applyTwinLocked(t *twinState, p TwinPatch, replace bool) error {
	tags, desired := t.tags, t.desired.props
	if replace {
		tags, desired = map[string]any{}, map[string]any{}
		merge(tags, p.Tags)
		merge(desired, p.Desired)
	} else {
		if p.Tags != nil {
			tags = copyObject(tags)
			merge(tags, p.Tags)
		}
		if p.Desired != nil {
			desired = copyObject(desired)
			merge(desired, p.Desired)
		}
	}
	if err := checkSize("tags", tags, MaxTagsSize); err != nil {
		return err
	}
	if err := checkSize("desired properties", desired, MaxPropertiesSize); err != nil {
		return err
	}
	if !replace && len(p.Tags) == 0 && len(p.Desired) == 0 {
		return nil // nothing to change: the hub keeps version and ETag
	}
	now := s.now().UTC()
	t.tags = tags
	if replace || len(p.Desired) > 0 {
		t.desired.version++
		t.desired.props = desired
		if replace {
			t.desired.meta = freshMeta(desired, now, t.desired.version)
		} else {
			t.desired.meta.apply(p.Desired, now, t.desired.version)
		}
	}
	t.version++
	t.etag = s.newTwinETag()
	return nil
}

// SetModelID records the IoT Plug and Play model id a device (moduleID "")
// or module announced when it connected, which its twin shows as modelId.
// Announcing the same id again changes nothing.
func (s *Store) SetModelID(deviceID, moduleID, modelID string) (err error) {
	tx := s.lockWrite()
	defer tx.end(&err)
	t, _, err := s.twinLocked(deviceID, moduleID)
	if err != nil {
		return err
	}
	if t.modelID == modelID {
		return nil
	}
	tx.touch(deviceID)
	t.modelID = modelID
	return nil
}

// UpdateReported merges a patch into the reported properties of a device
// (moduleID "") or module, as a device does over MQTT or AMQP, and returns
// the new reported $version.
func (s *Store) UpdateReported(deviceID, moduleID string, patch map[string]any) (_ int64, err error) {
	patch, err = ValidateReported(patch)
	if err != nil {
		return 0, err
	}
	tx := s.lockWrite()
	defer tx.end(&err)
	tx.touch(deviceID)
	t, _, err := s.twinLocked(deviceID, moduleID)
	if err != nil {
		return 0, err
	}
	reported := copyObject(t.reported.props)
	merge(reported, patch)
	if err := checkSize("reported properties", reported, MaxPropertiesSize); err != nil {
		return 0, err
	}
	t.reported.props = reported
	t.reported.version++
	t.reported.meta.apply(patch, s.now().UTC(), 0)
	t.version++
	t.etag = s.newTwinETag()
	return t.reported.version, nil
}
