package servicerest

import (
	"net/http"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

// authorize checks the request's Authorization header: a shared access
// signature must grant one of the rights in need; an Entra ID bearer token
// every data action in action (none refuses bearer tokens).
func (h *Handler) authorize(r *http.Request, need core.Rights, action entra.DataActions) error {
	header := strings.TrimSpace(r.Header.Get("Authorization"))
	if header == "" {
		return core.Unauthorized("the request has no Authorization header")
	}
	if scheme, token, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "Bearer") {
		if h.opts.Bearer == nil {
			return core.Unauthorized("Microsoft Entra ID tokens are not supported by this emulator; use a shared access signature")
		}
		granted, err := h.opts.Bearer(r.Context(), strings.TrimSpace(token))
		if err != nil {
			return core.Unauthorized("the bearer token was refused: %v", err)
		}
		if action == 0 {
			return core.Unauthorized("this operation does not accept Microsoft Entra ID tokens")
		}
		if missing := action &^ granted; missing != 0 {
			return core.Unauthorized("the principal's roles lack the data action %s this operation needs", missing)
		}
		return nil
	}
	granted, err := h.hub.CheckSAS(header, r.Host, r.URL.Path)
	if err != nil {
		return err
	}
	if granted&need == 0 {
		return core.Unauthorized("the policy lacks the %s permission this operation needs", need)
	}
	return nil
}
