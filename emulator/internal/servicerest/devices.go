package servicerest

import (
	"net/http"
	"strconv"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// maxListTop is the most devices GET /devices returns; the hub reads any
// top outside 1..1000 as 1000.
const maxListTop = 1000

// deviceJSON is the Device object of the swagger.
type deviceJSON struct {
	DeviceID                   string          `json:"deviceId"`
	GenerationID               string          `json:"generationId"`
	ETag                       string          `json:"etag"`
	ConnectionState            string          `json:"connectionState"`
	Status                     string          `json:"status"`
	StatusReason               *string         `json:"statusReason"`
	ConnectionStateUpdatedTime string          `json:"connectionStateUpdatedTime"`
	StatusUpdatedTime          string          `json:"statusUpdatedTime"`
	LastActivityTime           string          `json:"lastActivityTime"`
	CloudToDeviceMessageCount  int             `json:"cloudToDeviceMessageCount"`
	Authentication             *authJSON       `json:"authentication"`
	Capabilities               *capabilityJSON `json:"capabilities"`
	DeviceScope                string          `json:"deviceScope,omitempty"`
	ParentScopes               []string        `json:"parentScopes"`
}

// authJSON is the AuthenticationMechanism object of the swagger.
type authJSON struct {
	SymmetricKey   *symmetricKeyJSON `json:"symmetricKey"`
	X509Thumbprint *thumbprintJSON   `json:"x509Thumbprint"`
	Type           string            `json:"type"`
}

type symmetricKeyJSON struct {
	PrimaryKey   *string `json:"primaryKey"`
	SecondaryKey *string `json:"secondaryKey"`
}

type thumbprintJSON struct {
	PrimaryThumbprint   *string `json:"primaryThumbprint"`
	SecondaryThumbprint *string `json:"secondaryThumbprint"`
}

type capabilityJSON struct {
	IotEdge bool `json:"iotEdge"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toAuthJSON(a registry.Auth) *authJSON {
	return &authJSON{
		SymmetricKey:   &symmetricKeyJSON{PrimaryKey: strOrNil(a.PrimaryKey), SecondaryKey: strOrNil(a.SecondaryKey)},
		X509Thumbprint: &thumbprintJSON{PrimaryThumbprint: strOrNil(a.PrimaryThumbprint), SecondaryThumbprint: strOrNil(a.SecondaryThumbprint)},
		Type:           a.Type,
	}
}

// fromAuthJSON returns nil when the body names no mechanism.
func fromAuthJSON(a *authJSON) *registry.Auth {
	if a == nil {
		return nil
	}
	out := &registry.Auth{Type: a.Type}
	if a.SymmetricKey != nil {
		out.PrimaryKey, out.SecondaryKey = deref(a.SymmetricKey.PrimaryKey), deref(a.SymmetricKey.SecondaryKey)
	}
	if a.X509Thumbprint != nil {
		out.PrimaryThumbprint, out.SecondaryThumbprint = deref(a.X509Thumbprint.PrimaryThumbprint), deref(a.X509Thumbprint.SecondaryThumbprint)
	}
	return out
}

func toDeviceJSON(d registry.Device) deviceJSON {
	ps := d.ParentScopes
	if ps == nil {
		ps = []string{}
	}
	return deviceJSON{
		DeviceID:                   d.DeviceID,
		GenerationID:               d.GenerationID,
		ETag:                       d.ETag,
		ConnectionState:            d.ConnectionState,
		Status:                     d.Status,
		StatusReason:               strOrNil(d.StatusReason),
		ConnectionStateUpdatedTime: registry.FormatTime(d.ConnectionStateUpdatedTime),
		StatusUpdatedTime:          registry.FormatTime(d.StatusUpdatedTime),
		LastActivityTime:           registry.FormatTime(d.LastActivityTime),
		CloudToDeviceMessageCount:  d.CloudToDeviceMessageCount,
		Authentication:             toAuthJSON(d.Auth),
		Capabilities:               &capabilityJSON{IotEdge: d.IotEdge},
		DeviceScope:                d.DeviceScope,
		ParentScopes:               ps,
	}
}

func (h *Handler) getDevice(w http.ResponseWriter, _ *http.Request, id string) error {
	if err := registry.ValidateDeviceID(id); err != nil {
		return err
	}
	d, err := h.hub.Registry().GetDevice(id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toDeviceJSON(d), d.ETag)
}

func (h *Handler) putDevice(w http.ResponseWriter, r *http.Request, id string) error {
	if err := registry.ValidateDeviceID(id); err != nil {
		return err
	}
	var body deviceJSON
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.DeviceID != "" && body.DeviceID != id {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The deviceId in the body ('"+body.DeviceID+"') does not match the deviceId in the path ('"+id+"')")
	}
	spec := registry.DeviceSpec{
		DeviceID:     id,
		Status:       body.Status,
		StatusReason: deref(body.StatusReason),
		Auth:         fromAuthJSON(body.Authentication),
		DeviceScope:  body.DeviceScope,
		ParentScopes: body.ParentScopes,
	}
	if body.Capabilities != nil {
		spec.IotEdge = body.Capabilities.IotEdge
	}
	d, err := h.hub.PutDevice(spec, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toDeviceJSON(d), d.ETag)
}

func (h *Handler) deleteDevice(w http.ResponseWriter, r *http.Request, id string) error {
	if err := registry.ValidateDeviceID(id); err != nil {
		return err
	}
	if err := h.hub.DeleteDevice(id, r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request) error {
	top := maxListTop
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return iothub.NewError(iothub.CodeArgumentInvalid, "The top query parameter must be an integer")
		}
		if n >= 1 && n <= maxListTop {
			top = n
		}
	}
	devices := h.hub.Registry().ListDevices(top)
	out := make([]deviceJSON, len(devices))
	for i, d := range devices {
		out[i] = toDeviceJSON(d)
	}
	return writeJSON(w, http.StatusOK, out, "")
}
