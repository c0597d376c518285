package servicerest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Limits of direct methods, as the hub documents them ("Understand and
// invoke direct methods from IoT Hub"): a time-out for the answer of 5 to
// 300 s (default 30), a time-out for the device to connect of 0 to 300 s
// (default 0), and request and response payloads of at most 128 KB.
const (
	maxMethodPayload       = 128 * 1024
	defaultResponseTimeout = 30
	minResponseTimeout     = 5
	maxResponseTimeout     = 300
	maxConnectTimeout      = 300
)

// methodRequestJSON is the CloudToDeviceMethod object of the swagger.
type methodRequestJSON struct {
	MethodName               string          `json:"methodName"`
	Payload                  json.RawMessage `json:"payload"`
	ResponseTimeoutInSeconds int             `json:"responseTimeoutInSeconds"`
	ConnectTimeoutInSeconds  int             `json:"connectTimeoutInSeconds"`
}

// methodResultJSON is the CloudToDeviceMethodResult object of the swagger.
type methodResultJSON struct {
	Status  int             `json:"status"`
	Payload json.RawMessage `json:"payload"`
}

// invokeMethod serves POST /twins/{id}/methods and
// /twins/{id}/modules/{mid}/methods: it checks the call, waits up to the
// connect time-out for the device to be online and subscribed to methods
// (404103 DeviceNotOnline otherwise), then up to the response time-out for
// its answer (504101 GatewayTimeout otherwise), and answers 200 with the
// device's status and payload, whatever that status is.
//
// Errors come in the structured form that the hub uses for methods, with
// the hub's messages; a 404103 carries the connect time-out in its info
// as "hh:mm:ss", as the hub's does:
//
//	{"Message":"{\"errorCode\":404103,…,\"message\":\"Timed out waiting for device to connect.\",\"info\":{\"timeout\":\"00:00:00\"},…}","ExceptionMessage":""}
func (h *Handler) invokeMethod(w http.ResponseWriter, r *http.Request, id, mid string) error {
	if err := validateIDs(id, mid); err != nil {
		return err
	}
	var body methodRequestJSON
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if body.MethodName == "" {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The methodName is required")
	}
	responseTimeout := body.ResponseTimeoutInSeconds
	if responseTimeout == 0 {
		responseTimeout = defaultResponseTimeout
	}
	if responseTimeout < minResponseTimeout || responseTimeout > maxResponseTimeout {
		return iothub.NewError(iothub.CodeArgumentInvalid, fmt.Sprintf("The responseTimeoutInSeconds must be between %d and %d; it is %d", minResponseTimeout, maxResponseTimeout, responseTimeout))
	}
	if body.ConnectTimeoutInSeconds < 0 || body.ConnectTimeoutInSeconds > maxConnectTimeout {
		return iothub.NewError(iothub.CodeArgumentInvalid, fmt.Sprintf("The connectTimeoutInSeconds must be between 0 and %d; it is %d", maxConnectTimeout, body.ConnectTimeoutInSeconds))
	}
	// The hub documents 128 KB for the payload but not its answer beyond;
	// 413001 MessageTooLarge is the code its catalogue has for a message
	// over a size limit (the service SDKs map it to their
	// MessageTooLarge error), and what this SDK checks before sending.
	if len(body.Payload) > maxMethodPayload {
		return iothub.NewError(iothub.CodeMessageTooLarge, fmt.Sprintf("The method payload is %d bytes; the maximum is %d", len(body.Payload), maxMethodPayload))
	}
	status, payload, err := h.hub.InvokeMethod(r.Context(), sessions.Key{DeviceID: id, ModuleID: mid}, body.MethodName, body.Payload,
		time.Duration(body.ConnectTimeoutInSeconds)*time.Second, time.Duration(responseTimeout)*time.Second)
	if err != nil {
		return err
	}
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return writeJSON(w, http.StatusOK, methodResultJSON{Status: status, Payload: payload}, "")
}
