package servicerest

import (
	"context"
	"net/http"
	"time"

	"github.com/iotkit-go/iothub"
)

// Fault is a fault injected into one request: a delay and, when Status or
// Code is set, the error answered instead of serving the request.
type Fault struct {
	// Status is the HTTP status to answer. Default: the status of Code.
	Status int
	// Code is the hub error code of the answer's body and iothub-errorcode
	// header.
	Code iothub.ErrorCode
	// Message is the error message. Default: a message saying the fault
	// was injected.
	Message string
	// RetryAfter, when positive, is sent in the Retry-After header, in
	// whole seconds (at least 1).
	RetryAfter time.Duration
	// Latency delays the request (whether or not it fails); the delay ends
	// early when the client gives up.
	Latency time.Duration
}

// applyFault delays the request and answers it with the fault's error;
// it reports whether the request was answered.
func applyFault(ctx context.Context, w http.ResponseWriter, f *Fault) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return true // the client is gone; nothing to answer
		}
	}
	if f.Status == 0 && f.Code == 0 {
		return false
	}
	msg := f.Message
	if msg == "" {
		msg = "Fault injected by the emulator"
	}
	writeHubError(w, legacyForm, f.Status, f.Code, msg, f.RetryAfter, nil)
	return true
}
