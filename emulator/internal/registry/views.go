package registry

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

// The nested objects of the document being written: for a view (v not
// nil), the view's own maps, whose keys every twin overwrites; for a
// document (v nil), new maps.

func (v *twinView) thumbObject() map[string]any {
	if v == nil {
		return make(map[string]any, 2)
	}
	return v.thumb
}

func (v *twinView) capsObject() map[string]any {
	if v == nil {
		return make(map[string]any, 1)
	}
	return v.caps
}

func (v *twinView) propsObject() map[string]any {
	if v == nil {
		return make(map[string]any, 2)
	}
	return v.props
}

// device is the view of a device's twin; mu held.
func (v *twinView) device(r *deviceRecord) map[string]any {
	clear(v.doc)
	return writeDeviceTwin(v.doc, r, v)
}

// module is the view of a module's twin; mu held.
func (v *twinView) module(m *moduleRecord) map[string]any {
	clear(v.doc)
	return writeModuleTwin(v.doc, m, v)
}
