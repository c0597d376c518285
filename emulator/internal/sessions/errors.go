package sessions

import (
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
