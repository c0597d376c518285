package servicerest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/core"
)

// errorForm is one of the two body shapes in which the hub reports errors.
type errorForm int

const (
	// legacyForm is what the identity registry and the gateway answer:
	//	{"Message":"ErrorCode:DeviceNotFound;…","ExceptionMessage":"Tracking ID:…-G:0-TimeStamp:…"}
	legacyForm errorForm = iota
	// structuredForm is what newer services (twins, methods) answer: the
	// Message holds a JSON object as a string.
	//	{"Message":"{\"errorCode\":404001,\"trackingId\":\"…\",…}","ExceptionMessage":""}
	structuredForm
)

// headerErrorCode names the hub's error code in every error answer.
const headerErrorCode = "iothub-errorcode"

const contentTypeJSON = "application/json; charset=utf-8"

// newTrackingID returns an id in the hub's form: 32 hex digits.
func newTrackingID() string {
	return strings.ReplaceAll(uuid.NewString(), "-", "")
}

// writeError answers err the way the hub does: status, iothub-errorcode
// header and a body of the given form. An error that is not an
// *iothub.Error is a 500001 ServerError.
func writeError(w http.ResponseWriter, form errorForm, err error) {
	var he *iothub.Error
	if !errors.As(err, &he) {
		he = iothub.NewError(iothub.CodeServerError, "Internal server error")
	}
	var info map[string]any
	var ie *core.InfoError
	if errors.As(err, &ie) {
		info = ie.Info
	}
	writeHubError(w, form, he.StatusCode, he.Code, he.Message, 0, info)
}

// writeHubError writes an error answer; retryAfter, when positive, goes in
// the Retry-After header (whole seconds, at least 1); info fills the
// structured form's "info" object (empty when nil).
func writeHubError(w http.ResponseWriter, form errorForm, status int, code iothub.ErrorCode, message string, retryAfter time.Duration, info map[string]any) {
	if status == 0 {
		status = code.StatusCode()
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	name := code.String()
	trackingID := newTrackingID()
	now := time.Now().UTC()
	var body struct {
		Message          string `json:"Message"`
		ExceptionMessage string `json:"ExceptionMessage"`
	}
	if info == nil {
		info = map[string]any{}
	}
	switch form {
	case structuredForm:
		inner, _ := json.Marshal(struct {
			ErrorCode    int            `json:"errorCode"`
			TrackingID   string         `json:"trackingId"`
			Message      string         `json:"message"`
			Info         map[string]any `json:"info"`
			TimestampUTC string         `json:"timestampUtc"`
		}{int(code), trackingID, message, info, now.Format("2006-01-02T15:04:05.0000000Z")})
		body.Message = string(inner)
	default:
		body.Message = message
		if name != "" {
			body.Message = "ErrorCode:" + name + ";" + message
		}
		body.ExceptionMessage = "Tracking ID:" + trackingID + "-G:0-TimeStamp:" + now.Format("01/02/2006 15:04:05")
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	if name != "" {
		h.Set(headerErrorCode, name)
	}
	if retryAfter > 0 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
