package devicehttp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// authenticate checks that a request comes from the identity its path
// names, as IoT Hub does: an identity that does not exist is 404
// DeviceNotFound (ModuleNotFound); a missing, malformed, expired or
// foreign Authorization header, a token of a policy without DeviceConnect
// (a service token) or a client certificate that is not the identity's is
// 401 IotHubUnauthorizedAccess; a disabled device is 404 DeviceNotFound,
// which is what the hub answers it over HTTPS.
func (h *Handler) authenticate(r *http.Request, key sessions.Key) error {
	header := strings.TrimSpace(r.Header.Get("Authorization"))
	certs := h.peers(r)
	if header == "" && len(certs) == 0 {
		return core.Unauthorized("the request has no Authorization header and no client certificate")
	}
	connectErr := h.hub.CheckCanConnect(key)
	var notFound *iothub.Error
	if errors.As(connectErr, &notFound) {
		return notFound
	}
	if header == "" {
		if err := h.hub.CheckDeviceCertificate(key, certs); err != nil {
			return core.Unauthorized("%v", err)
		}
	} else {
		if !strings.HasPrefix(strings.ToLower(header), "sharedaccesssignature ") {
			return core.Unauthorized("the Authorization header is not a shared access signature")
		}
		if _, err := auth.ParseSAS(header); err != nil {
			return core.Unauthorized("malformed shared access signature: %v", err)
		}
		if _, err := h.hub.CheckDeviceToken(key, header); err != nil {
			return core.Unauthorized("%v", err)
		}
	}
	if connectErr != nil {
		return iothub.NewError(iothub.CodeDeviceNotFound, "Device "+key.DeviceID+" is disabled")
	}
	return nil
}
