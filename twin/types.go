package twin

import (
	"encoding/json"
	"time"
)

// Twin is the twin of a device or a module: its identity fields as the
// registry holds them, its tags and its desired and reported properties.
type Twin struct {
	DeviceID string `json:"deviceId"`
	ModuleID string `json:"moduleId,omitempty"`
	// ETag is the twin's ETag, for If-Match; it changes on every write.
	ETag string `json:"etag,omitempty"`
	// DeviceETag is the ETag of the device identity.
	DeviceETag string `json:"deviceEtag,omitempty"`
	// Version rises on every change of tags or properties.
	Version                   int64           `json:"version,omitempty"`
	Status                    string          `json:"status,omitempty"`
	StatusReason              string          `json:"statusReason,omitempty"`
	StatusUpdateTime          time.Time       `json:"statusUpdateTime,omitzero"`
	ConnectionState           string          `json:"connectionState,omitempty"`
	LastActivityTime          time.Time       `json:"lastActivityTime,omitzero"`
	CloudToDeviceMessageCount int             `json:"cloudToDeviceMessageCount,omitempty"`
	AuthenticationType        string          `json:"authenticationType,omitempty"`
	X509Thumbprint            *X509Thumbprint `json:"x509Thumbprint,omitempty"`
	Capabilities              *Capabilities   `json:"capabilities,omitempty"`
	ModelID                   string          `json:"modelId,omitempty"`
	DeviceScope               string          `json:"deviceScope,omitempty"`
	ParentScopes              []string        `json:"parentScopes,omitempty"`
	// Tags are the service's own notes on the device; devices never see them.
	Tags       map[string]any `json:"tags,omitempty"`
	Properties Properties     `json:"properties"`
}

// Properties are a twin's desired and reported properties.
type Properties struct {
	// Desired is written by the service and seen by the device.
	Desired Collection `json:"desired,omitempty"`
	// Reported is written by the device; the service can only read it.
	Reported Collection `json:"reported,omitempty"`
}

// Collection is a set of twin properties as the hub sends it, including its
// "$version" and "$metadata" entries.
type Collection map[string]any

// Version returns the collection's $version, or 0 when absent.
func (c Collection) Version() int64 {
	switch v := c["$version"].(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

// LastUpdated returns $metadata.$lastUpdated of the property at path
// (no path: of the whole collection), and whether the hub sent it.
func (c Collection) LastUpdated(path ...string) (time.Time, bool) {
	meta, _ := c["$metadata"].(map[string]any)
	for _, p := range path {
		meta, _ = meta[p].(map[string]any)
	}
	s, ok := meta["$lastUpdated"].(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// Get returns the value at path (keys of nested objects) and whether it is
// there.
func (c Collection) Get(path ...string) (any, bool) {
	var cur any = map[string]any(c)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// X509Thumbprint holds the thumbprints of a device's two certificates.
type X509Thumbprint struct {
	PrimaryThumbprint   string `json:"primaryThumbprint,omitempty"`
	SecondaryThumbprint string `json:"secondaryThumbprint,omitempty"`
}

// Capabilities are what a device can do beyond the basics.
type Capabilities struct {
	IoTEdge bool `json:"iotEdge"`
}

// Patch is a change to a twin: tags and desired properties are merged into
// the twin's, and a nil value deletes its key. Reported properties belong to
// the device and cannot be patched by the service.
type Patch struct {
	Tags    map[string]any
	Desired map[string]any
	// ETag, when set, makes the patch apply only if the twin's ETag still
	// matches ([iothub.ErrPreconditionFailed] otherwise). Empty or "*":
	// unconditional, since a merge loses nothing it does not name.
	ETag string
}

// MarshalJSON gives the wire form {"tags":…,"properties":{"desired":…}}.
func (p *Patch) MarshalJSON() ([]byte, error) {
	type props struct {
		Desired map[string]any `json:"desired,omitempty"`
	}
	wire := struct {
		Tags       map[string]any `json:"tags,omitempty"`
		Properties *props         `json:"properties,omitempty"`
	}{Tags: p.Tags}
	if p.Desired != nil {
		wire.Properties = &props{Desired: p.Desired}
	}
	return json.Marshal(wire)
}
