package registry

import "time"

// Status says whether a device may connect.
type Status string

// Device statuses.
const (
	StatusEnabled  Status = "enabled"
	StatusDisabled Status = "disabled"
)

// ConnectionState says whether a device or module is connected to the hub.
type ConnectionState string

// Connection states.
const (
	Connected    ConnectionState = "Connected"
	Disconnected ConnectionState = "Disconnected"
)

// AuthenticationType is how a device or module proves its identity.
type AuthenticationType string

// Authentication types.
const (
	// AuthSAS: symmetric keys; the hub generates them when none are given.
	AuthSAS AuthenticationType = "sas"
	// AuthSelfSigned: X.509 certificates identified by their thumbprints.
	AuthSelfSigned AuthenticationType = "selfSigned"
	// AuthCertificateAuthority: X.509 certificates signed by a registered CA.
	AuthCertificateAuthority AuthenticationType = "certificateAuthority"
	// AuthNone: no credentials of its own (modules authenticated by their edge device).
	AuthNone AuthenticationType = "none"
)

// Authentication is the credential a device or module connects with.
type Authentication struct {
	Type           AuthenticationType `json:"type,omitempty"`
	SymmetricKey   *SymmetricKey      `json:"symmetricKey,omitempty"`
	X509Thumbprint *X509Thumbprint    `json:"x509Thumbprint,omitempty"`
}

// SymmetricKey holds a device's two base64 keys. Printing it with the fmt
// package shows no key; the JSON form carries them.
type SymmetricKey struct {
	PrimaryKey   string `json:"primaryKey,omitempty"`
	SecondaryKey string `json:"secondaryKey,omitempty"`
}

// String redacts the keys.
func (k SymmetricKey) String() string { return "{PrimaryKey:<redacted> SecondaryKey:<redacted>}" }

// GoString redacts the keys.
func (k SymmetricKey) GoString() string { return "registry.SymmetricKey" + k.String() }

// X509Thumbprint holds the thumbprints of a device's two certificates.
type X509Thumbprint struct {
	PrimaryThumbprint   string `json:"primaryThumbprint,omitempty"`
	SecondaryThumbprint string `json:"secondaryThumbprint,omitempty"`
}

// Capabilities are what a device can do beyond the basics.
type Capabilities struct {
	// IoTEdge marks an IoT Edge device.
	IoTEdge bool `json:"iotEdge"`
}

// Device is a device identity. Only DeviceID is needed to create one; the
// hub fills in the rest (SAS keys are generated when Authentication is nil
// or has type sas without keys).
type Device struct {
	DeviceID string `json:"deviceId"`
	// GenerationID distinguishes devices of the same id deleted and
	// re-created. Set by the hub.
	GenerationID string `json:"generationId,omitempty"`
	// ETag changes on every write; updates and deletes use it to detect
	// concurrent changes.
	ETag   string `json:"etag,omitempty"`
	Status Status `json:"status,omitempty"`
	// StatusReason is free text, up to 128 characters.
	StatusReason               string          `json:"statusReason,omitempty"`
	ConnectionState            ConnectionState `json:"connectionState,omitempty"`
	ConnectionStateUpdatedTime time.Time       `json:"connectionStateUpdatedTime,omitzero"`
	StatusUpdatedTime          time.Time       `json:"statusUpdatedTime,omitzero"`
	LastActivityTime           time.Time       `json:"lastActivityTime,omitzero"`
	// CloudToDeviceMessageCount is the number of messages queued for the device.
	CloudToDeviceMessageCount int             `json:"cloudToDeviceMessageCount,omitempty"`
	Authentication            *Authentication `json:"authentication,omitempty"`
	Capabilities              *Capabilities   `json:"capabilities,omitempty"`
	DeviceScope               string          `json:"deviceScope,omitempty"`
	ParentScopes              []string        `json:"parentScopes,omitempty"`
}

// Module is a module identity on a device.
type Module struct {
	DeviceID string `json:"deviceId"`
	ModuleID string `json:"moduleId"`
	// ManagedBy names who manages the module ("iotEdge" for Edge modules).
	ManagedBy                  string          `json:"managedBy,omitempty"`
	GenerationID               string          `json:"generationId,omitempty"`
	ETag                       string          `json:"etag,omitempty"`
	ConnectionState            ConnectionState `json:"connectionState,omitempty"`
	ConnectionStateUpdatedTime time.Time       `json:"connectionStateUpdatedTime,omitzero"`
	LastActivityTime           time.Time       `json:"lastActivityTime,omitzero"`
	CloudToDeviceMessageCount  int             `json:"cloudToDeviceMessageCount,omitempty"`
	Authentication             *Authentication `json:"authentication,omitempty"`
}

// Statistics counts the devices in the registry.
type Statistics struct {
	TotalDeviceCount    int64 `json:"totalDeviceCount"`
	EnabledDeviceCount  int64 `json:"enabledDeviceCount"`
	DisabledDeviceCount int64 `json:"disabledDeviceCount"`
}

// ServiceStatistics describes the hub's live state.
type ServiceStatistics struct {
	ConnectedDeviceCount int64 `json:"connectedDeviceCount"`
}
