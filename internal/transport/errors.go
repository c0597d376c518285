package transport

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iotkit-go/iothub"
)

// maxErrorBody bounds how much of an error body is decoded.
const maxErrorBody = 64 << 10

// HeaderErrorCode is the header in which the hub names its error code.
const HeaderErrorCode = "iothub-errorcode"

// DecodeError turns a non-2xx answer into an *iothub.Error. It understands the
// three body shapes the hub sends:
//
//	{"Message":"ErrorCode:DeviceNotFound;…","ExceptionMessage":"Tracking ID:…"}
//	{"Message":"{\"errorCode\":404001,\"trackingId\":\"…\",\"message\":\"…\",…}"}
//	{"Message":{"errorCode":404001,"trackingId":"…","message":"…",…}}
//
// plus the iothub-errorcode and Retry-After headers. An unparseable body
// still yields an *iothub.Error with the status.
func DecodeError(status int, header http.Header, body []byte) *iothub.Error {
	e := &iothub.Error{StatusCode: status}
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	decodeErrorBody(e, body)
	if name := strings.TrimSpace(header.Get(HeaderErrorCode)); name != "" {
		if e.Name == "" {
			e.Name = name
		}
		if e.Code == 0 {
			if c, ok := iothub.ErrorCodeByName(name); ok {
				e.Code = c
			}
		}
	}
	if e.Code == 0 && e.Name != "" {
		if c, ok := iothub.ErrorCodeByName(e.Name); ok {
			e.Code = c
		}
	}
	if e.Name == "" && e.Code != 0 {
		e.Name = e.Code.String()
		if e.Name == strconv.Itoa(int(e.Code)) {
			e.Name = ""
		}
	}
	if e.Message == "" && e.Name == "" {
		e.Message = http.StatusText(status)
	}
	e.RetryAfter = ParseRetryAfter(header.Get("Retry-After"), time.Now())
	return e
}

// hubError is the structured error object of newer hub answers.
type hubError struct {
	ErrorCode  json.RawMessage `json:"errorCode"`
	TrackingID string          `json:"trackingId"`
	Message    string          `json:"message"`
}

func decodeErrorBody(e *iothub.Error, body []byte) {
	var outer struct {
		Message          json.RawMessage `json:"Message"`
		ExceptionMessage string          `json:"ExceptionMessage"`
		hubError
	}
	if json.Unmarshal(body, &outer) != nil {
		if text := strings.TrimSpace(string(body)); text != "" && !strings.HasPrefix(text, "<") {
			e.Message = truncate(text, 512)
		}
		return
	}
	e.TrackingID = trackingIDFromException(outer.ExceptionMessage)
	switch {
	case len(outer.Message) > 0 && outer.Message[0] == '{':
		var he hubError
		if json.Unmarshal(outer.Message, &he) == nil {
			applyHubError(e, &he)
		}
	case len(outer.Message) > 0 && outer.Message[0] == '"':
		var s string
		if json.Unmarshal(outer.Message, &s) != nil {
			break
		}
		if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") {
			var he hubError
			if json.Unmarshal([]byte(t), &he) == nil {
				applyHubError(e, &he)
				break
			}
		}
		applyLegacyMessage(e, s)
	default:
		// A bare {"errorCode":…,"message":…} object.
		applyHubError(e, &outer.hubError)
	}
}

func applyHubError(e *iothub.Error, he *hubError) {
	if code := parseCode(he.ErrorCode); code != 0 {
		e.Code = code
	}
	if he.TrackingID != "" {
		e.TrackingID = he.TrackingID
	}
	if he.Message != "" {
		e.Message = he.Message
	}
}

// parseCode accepts 404001, "404001" and "DeviceNotFound".
func parseCode(raw json.RawMessage) iothub.ErrorCode {
	if len(raw) == 0 {
		return 0
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil && n > 0 && n < 1e7 {
		return iothub.ErrorCode(n)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 1e7 {
		return iothub.ErrorCode(n)
	}
	c, _ := iothub.ErrorCodeByName(s)
	return c
}

// applyLegacyMessage parses "ErrorCode:DeviceNotFound;Device xyz not found".
func applyLegacyMessage(e *iothub.Error, s string) {
	rest, ok := strings.CutPrefix(s, "ErrorCode:")
	if !ok {
		e.Message = truncate(s, 1024)
		return
	}
	name, msg, _ := strings.Cut(rest, ";")
	e.Name = strings.TrimSpace(name)
	if c, ok := iothub.ErrorCodeByName(e.Name); ok {
		e.Code = c
	} else if n, err := strconv.Atoi(e.Name); err == nil && n > 0 && n < 1e7 {
		e.Code = iothub.ErrorCode(n)
		e.Name = ""
	}
	e.Message = truncate(strings.TrimSpace(msg), 1024)
}

// trackingIDFromException extracts the id from
// "Tracking ID:abc123-G:10-TimeStamp:05/14/2019 18:32:40".
func trackingIDFromException(s string) string {
	_, rest, ok := strings.Cut(s, "Tracking ID:")
	if !ok {
		return ""
	}
	for _, sep := range []string{"-G:", "-TimeStamp:", " ", "\n"} {
		if i := strings.Index(rest, sep); i >= 0 {
			rest = rest[:i]
		}
	}
	return truncate(strings.TrimSpace(rest), 128)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ParseRetryAfter reads a Retry-After value in seconds or as an HTTP date;
// it returns zero for an absent, malformed or past value.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 && d <= 24*time.Hour {
			return d
		}
	}
	return 0
}
