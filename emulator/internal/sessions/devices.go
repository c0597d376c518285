package sessions

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/iotkit-go/iothub"
)

// ErrorStatus is the status a device's twin request answers with when the
// hub refused it with err: the hub error's HTTP status, or 500.
func ErrorStatus(err error) int {
	var he *iothub.Error
	if errors.As(err, &he) && he.Code.StatusCode() != 0 {
		return he.Code.StatusCode()
	}
	return 500
}

// ErrorBody is the JSON body of that answer, as the hub writes it to
// devices: {"errorCode":…,"message":…} (for an error with no hub code,
// the message alone).
func ErrorBody(err error) []byte {
	var he *iothub.Error
	body := map[string]any{"message": err.Error()}
	if errors.As(err, &he) {
		body = map[string]any{"errorCode": int(he.Code), "message": he.Message}
	}
	b, _ := json.Marshal(body)
	return b
}

// DesiredJSON is a desired-properties patch as devices receive it: the
// patch with the collection's "$version".
func DesiredJSON(patch map[string]any, version int64) ([]byte, error) {
	body := make(map[string]any, len(patch)+1)
	for k, v := range patch {
		body[k] = v
	}
	body["$version"] = version
	return json.Marshal(body)
}

// MethodPayload is a device's method answer as the service receives it:
// nil when empty, the JSON itself, or, for text that is not JSON, that
// text as a JSON string (the hub hands the service what the device sent).
func MethodPayload(b []byte) json.RawMessage {
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return nil
	case json.Valid(b):
		return append(json.RawMessage(nil), b...)
	}
	s, _ := json.Marshal(string(b))
	return s
}
