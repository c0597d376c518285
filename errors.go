package iothub

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Error is an answer of the hub that was not a success. Every client in this
// module returns it, over HTTPS and AMQP alike, so a caller can test any error
// with [errors.Is] against the sentinels ([ErrDeviceNotFound], …) or read the
// fields with [errors.As].
type Error struct {
	// StatusCode is the HTTP status (or its AMQP equivalent), e.g. 404.
	StatusCode int
	// Code is the hub's six-digit error code, e.g. 404001. Zero when the hub
	// sent none.
	Code ErrorCode
	// Name is the hub's name for the code, e.g. "DeviceNotFound".
	Name string
	// Message is the hub's explanation, for people. It never holds secrets.
	Message string
	// TrackingID identifies the request in the hub's logs; quote it to support.
	TrackingID string
	// RetryAfter is how long the hub asked the caller to wait before trying
	// again (the Retry-After header); zero when it did not say.
	RetryAfter time.Duration

	// err is the lower-level error this one wraps (an AMQP link error, say).
	err error
}

// NewError returns an *Error for code, with the status and name the hub uses
// for it, and message.
func NewError(code ErrorCode, message string) *Error {
	return &Error{StatusCode: code.StatusCode(), Code: code, Name: code.String(), Message: message}
}

// WithCause returns a copy of e that unwraps to cause, so that the underlying
// protocol error (go-amqp's *amqp.LinkError, a *net.OpError…) stays reachable
// through [errors.As].
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.err = cause
	return &c
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("iothub: ")
	switch {
	case e.Code != 0:
		b.WriteString(strconv.Itoa(int(e.Code)))
		if name := e.name(); name != "" {
			b.WriteByte(' ')
			b.WriteString(name)
		}
		if e.StatusCode != 0 {
			fmt.Fprintf(&b, " (status %d)", e.StatusCode)
		}
	case e.StatusCode != 0:
		fmt.Fprintf(&b, "status %d", e.StatusCode)
		if e.Name != "" {
			b.WriteString(" " + e.Name)
		}
	default:
		b.WriteString("error")
		if e.Name != "" {
			b.WriteString(" " + e.Name)
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.TrackingID != "" {
		b.WriteString(" (tracking id ")
		b.WriteString(e.TrackingID)
		b.WriteByte(')')
	}
	return b.String()
}

func (e *Error) name() string {
	if e.Name != "" {
		return e.Name
	}
	return codeNames[e.Code]
}

// Is reports whether target is an *Error with the same Code, or, when target
// carries no code, the same StatusCode. It makes the sentinels work with
// [errors.Is].
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil {
		return false
	}
	if t.Code != 0 {
		return e.Code == t.Code
	}
	return t.StatusCode != 0 && e.StatusCode == t.StatusCode
}

// Unwrap returns the lower-level error this one came from, if any.
func (e *Error) Unwrap() error { return e.err }

// Sentinels to test errors with [errors.Is]. They match by [ErrorCode]
// (ErrThrottled and ErrUnauthorized by status, since the hub uses several codes
// for them). Never modify them.
var (
	ErrDeviceNotFound      = &Error{StatusCode: 404, Code: CodeDeviceNotFound, Name: "DeviceNotFound"}
	ErrModuleNotFound      = &Error{StatusCode: 404, Code: CodeModuleNotFound, Name: "ModuleNotFound"}
	ErrDeviceAlreadyExists = &Error{StatusCode: 409, Code: CodeDeviceAlreadyExists, Name: "DeviceAlreadyExists"}
	ErrModuleAlreadyExists = &Error{StatusCode: 409, Code: CodeModuleAlreadyExistsOnDevice, Name: "ModuleAlreadyExistsOnDevice"}
	ErrPreconditionFailed  = &Error{StatusCode: 412, Code: CodePreconditionFailed, Name: "PreconditionFailed"}
	ErrDeviceNotOnline     = &Error{StatusCode: 404, Code: CodeDeviceNotOnline, Name: "DeviceNotOnline"}
	ErrThrottled           = &Error{StatusCode: 429, Name: "Throttled"}
	ErrUnauthorized        = &Error{StatusCode: 401, Name: "Unauthorized"}
	ErrMessageTooLarge     = &Error{StatusCode: 413, Code: CodeMessageTooLarge, Name: "MessageTooLarge"}
	ErrQueueFull           = &Error{StatusCode: 403, Code: CodeDeviceMaximumQueueDepthExceeded, Name: "DeviceMaximumQueueDepthExceeded"}
	ErrTimeout             = &Error{StatusCode: 504, Code: CodeGatewayTimeout, Name: "GatewayTimeout"}
	ErrArgumentInvalid     = &Error{StatusCode: 400, Code: CodeArgumentInvalid, Name: "ArgumentInvalid"}
)
