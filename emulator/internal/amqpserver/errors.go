package amqpserver

import (
	"errors"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

// Error conditions the engine and its nodes send. Any other condition string,
// such as "com.microsoft:server-busy", may be used as well.
const (
	CondDecodeError           = "amqp:decode-error"
	CondIllegalState          = "amqp:illegal-state"
	CondInternalError         = "amqp:internal-error"
	CondInvalidField          = "amqp:invalid-field"
	CondNotAllowed            = "amqp:not-allowed"
	CondNotFound              = "amqp:not-found"
	CondNotImplemented        = "amqp:not-implemented"
	CondPreconditionFailed    = "amqp:precondition-failed"
	CondResourceLimitExceeded = "amqp:resource-limit-exceeded"
	CondUnauthorizedAccess    = "amqp:unauthorized-access"
	CondConnectionForced      = "amqp:connection:forced"
	CondFramingError          = "amqp:connection:framing-error"
	CondWindowViolation       = "amqp:session:window-violation"
	CondUnattachedHandle      = "amqp:session:unattached-handle"
	CondHandleInUse           = "amqp:session:handle-in-use"
	CondLinkRedirect          = "amqp:link:redirect"
	CondLinkStolen            = "amqp:link:stolen"
	CondLinkDetachForced      = "amqp:link:detach-forced"
	CondMessageSizeExceeded   = "amqp:link:message-size-exceeded"
	CondServerBusy            = "com.microsoft:server-busy"
)

// Error is an AMQP error sent to a client in a detach, end, close or a
// rejected outcome. Info keys are sent as symbols, as the specification's
// fields type requires.
type Error struct {
	// Condition is the error's symbolic condition, such as amqp:not-found.
	Condition string
	// Description is free text for people.
	Description string
	// Info carries extra details, such as the redirect target.
	Info map[string]any
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Condition
	}
	return e.Condition + ": " + e.Description
}

// RedirectError builds an amqp:link:redirect error with the info map IoT Hub
// sends when a telemetry consumer must move to the Event Hub-compatible endpoint.
func RedirectError(hostname, networkHost string, port int, address string) *Error {
	return &Error{
		Condition:   CondLinkRedirect,
		Description: "the link is redirected to " + address,
		Info: map[string]any{
			"hostname":     hostname,
			"network-host": networkHost,
			"port":         int32(port),
			"address":      address,
		},
	}
}

func (e *Error) wire() *encoding.Error {
	if e == nil {
		return nil
	}
	w := &encoding.Error{Condition: encoding.Symbol(e.Condition), Description: e.Description}
	if len(e.Info) > 0 {
		w.Info = make(map[encoding.Symbol]any, len(e.Info))
		for k, v := range e.Info {
			w.Info[encoding.Symbol(k)] = v
		}
	}
	return w
}

func fromWire(e *encoding.Error) *Error {
	if e == nil {
		return nil
	}
	out := &Error{Condition: string(e.Condition), Description: e.Description}
	if len(e.Info) > 0 {
		out.Info = make(map[string]any, len(e.Info))
		for k, v := range e.Info {
			out.Info[string(k)] = v
		}
	}
	return out
}

// asError turns any error into an *Error, using fallback as the condition
// when err is not one already.
func asError(err error, fallback string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Condition: fallback, Description: err.Error()}
}

var (
	// ErrLinkDetached is returned by operations on a link that has detached.
	ErrLinkDetached = errors.New("amqpserver: link detached")
	// ErrConnClosed is returned by operations on a connection that has closed.
	ErrConnClosed = errors.New("amqpserver: connection closed")
	// ErrNoCredit is returned by TrySend when the client has granted no credit.
	ErrNoCredit = errors.New("amqpserver: no link credit")
	// ErrSettled is returned when a delivery is settled twice.
	ErrSettled = errors.New("amqpserver: delivery already settled")
	// ErrServerClosed is returned by ServeConn after Close or Shutdown.
	ErrServerClosed = errors.New("amqpserver: server closed")
)
