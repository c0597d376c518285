package registry

import "time"

// twinView is a twin as a query's WHERE clause sees it while the store's
// read lock is held: the fields of the twin document, without the
// $metadata and $version of the desired and reported properties, sharing
// the record's own maps instead of copying them. One view is reused for
// every twin of a scan, so matching a twin allocates nothing; whoever
// reads a view must neither keep nor modify what it holds.
type twinView struct {
	doc, props, caps, thumb map[string]any
}

func newTwinView() *twinView {
	return &twinView{doc: make(map[string]any, 20), props: make(map[string]any, 2), caps: make(map[string]any, 1), thumb: make(map[string]any, 2)}
}

// common fills the fields devices and modules share.
func (v *twinView) common(t *twinState, a Auth, etag, state string, lastActivity time.Time, c2d int) {
	clear(v.doc)
	v.doc["deviceEtag"] = etag
	v.doc["connectionState"] = state
	v.doc["lastActivityTime"] = FormatTime(lastActivity)
	v.doc["cloudToDeviceMessageCount"] = int64(c2d)
	v.doc["authenticationType"] = a.Type
	v.thumb["primaryThumbprint"] = nilIfEmpty(a.PrimaryThumbprint)
	v.thumb["secondaryThumbprint"] = nilIfEmpty(a.SecondaryThumbprint)
	v.doc["x509Thumbprint"] = v.thumb
	v.doc["modelId"] = t.modelID
	v.doc["etag"] = t.etag
	v.doc["version"] = t.version
	if len(t.tags) > 0 {
		v.doc["tags"] = t.tags
	}
	v.props["desired"] = t.desired.props
	v.props["reported"] = t.reported.props
	v.doc["properties"] = v.props
}

// device is the view of a device's twin; mu held.
func (v *twinView) device(r *deviceRecord) map[string]any {
	d := &r.dev
	v.common(&r.twin, d.Auth, d.ETag, d.ConnectionState, d.LastActivityTime, d.CloudToDeviceMessageCount)
	v.doc["deviceId"] = d.DeviceID
	v.doc["status"] = d.Status
	v.doc["statusUpdateTime"] = FormatTime(d.StatusUpdatedTime)
	v.caps["iotEdge"] = d.IotEdge
	v.doc["capabilities"] = v.caps
	if d.StatusReason != "" {
		v.doc["statusReason"] = d.StatusReason
	}
	if d.DeviceScope != "" {
		v.doc["deviceScope"] = d.DeviceScope
	}
	if len(d.ParentScopes) > 0 {
		ps := make([]any, len(d.ParentScopes))
		for i, p := range d.ParentScopes {
			ps[i] = p
		}
		v.doc["parentScopes"] = ps
	}
	return v.doc
}

// module is the view of a module's twin; mu held.
func (v *twinView) module(m *moduleRecord) map[string]any {
	md := &m.mod
	v.common(&m.twin, md.Auth, md.ETag, md.ConnectionState, md.LastActivityTime, md.CloudToDeviceMessageCount)
	v.doc["deviceId"] = md.DeviceID
	v.doc["moduleId"] = md.ModuleID
	v.doc["status"] = StatusEnabled
	v.doc["statusUpdateTime"] = FormatTime(time.Time{})
	return v.doc
}
