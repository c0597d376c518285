package amqpconn

import (
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
)

// Action is what a caller does about an error.
type Action int

const (
	// Fatal: return the error; repeating cannot help (unauthorized, not
	// found, too large, a cancelled context…).
	Fatal Action = iota
	// RetryCall: repeat the call on the same link after a backoff.
	RetryCall
	// RecreateLink: open a new link on the same connection and repeat.
	RecreateLink
	// RecreateConn: reset the connection (Reset) and repeat.
	RecreateConn
)

// String names the action.
func (a Action) String() string {
	return [...]string{"fatal", "retry-call", "recreate-link", "recreate-connection"}[a]
}

// Conditions the hub uses besides go-amqp's own.
const (
	CondServerBusy       = amqp.ErrCond("com.microsoft:server-busy")
	CondTimeout          = amqp.ErrCond("com.microsoft:timeout")
	CondArgumentError    = amqp.ErrCond("com.microsoft:argument-error")
	CondEntityDisabled   = amqp.ErrCond("com.microsoft:entity-disabled")
	CondPreconditionFail = amqp.ErrCond("com.microsoft:precondition-failed")
)

// remote returns the AMQP error the peer sent, and which layer carried it.
func remote(err error) (*amqp.Error, string) {
	var le *amqp.LinkError
	if errors.As(err, &le) {
		return le.RemoteErr, "link"
	}
	var se *amqp.SessionError
	if errors.As(err, &se) {
		return se.RemoteErr, "session"
	}
	var ce *amqp.ConnError
	if errors.As(err, &ce) {
		return ce.RemoteErr, "conn"
	}
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae, "outcome"
	}
	return nil, ""
}

// Classify says what to do about err.
func Classify(err error) Action {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return Fatal
	}
	re, layer := remote(err)
	if re != nil {
		switch re.Condition {
		case amqp.ErrCondNotFound, amqp.ErrCondUnauthorizedAccess, amqp.ErrCondMessageSizeExceeded,
			amqp.ErrCondResourceLimitExceeded, amqp.ErrCondStolen, amqp.ErrCondInvalidField,
			amqp.ErrCondNotAllowed, amqp.ErrCondNotImplemented, amqp.ErrCondDecodeError,
			amqp.ErrCondLinkRedirect, CondArgumentError, CondEntityDisabled, CondPreconditionFail:
			return Fatal
		case CondServerBusy, CondTimeout:
			if layer == "outcome" {
				return RetryCall
			}
		}
	}
	switch layer {
	case "outcome":
		return RetryCall
	case "link":
		return RecreateLink
	case "session", "conn":
		return RecreateConn
	}
	var ne net.Error
	var op *net.OpError
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) || errors.As(err, &op) {
		return RecreateConn
	}
	var he *iothub.Error
	if errors.As(err, &he) && iothub.IsRetriable(he) {
		return RetryCall
	}
	return Fatal
}

// codeInDescription finds "Name (123456)" at the start of a description,
// the form the emulator (and the hub's messages) use to carry the code.
var codeInDescription = regexp.MustCompile(`^\s*([A-Za-z]+)\s*\((\d{6})\)`)

// HubError turns an AMQP error into an *iothub.Error that unwraps to the
// go-amqp error, so errors.Is works with the iothub sentinels and errors.As
// still reaches *amqp.LinkError and friends. defaults gives the code of
// each condition when the description carries none. Other errors are
// returned as they are.
func HubError(err error, defaults map[amqp.ErrCond]iothub.ErrorCode) error {
	re, _ := remote(err)
	if re == nil {
		return err
	}
	e := &iothub.Error{Name: string(re.Condition), Message: re.Description}
	if m := codeInDescription.FindStringSubmatch(re.Description); m != nil {
		n, _ := strconv.Atoi(m[2])
		e.Code = iothub.ErrorCode(n)
	} else if c, ok := defaults[re.Condition]; ok {
		e.Code = c
	} else if c, ok := conditionCodes[re.Condition]; ok {
		e.Code = c
	}
	if e.Code != 0 {
		e.StatusCode = e.Code.StatusCode()
		e.Name = e.Code.String()
	}
	if id, ok := re.Info["com.microsoft:tracking-id"].(string); ok {
		e.TrackingID = id
	}
	return e.WithCause(err)
}

// conditionCodes are the hub codes of conditions whose meaning does not
// depend on the endpoint.
var conditionCodes = map[amqp.ErrCond]iothub.ErrorCode{
	amqp.ErrCondUnauthorizedAccess:  iothub.CodeIotHubUnauthorizedAccess,
	amqp.ErrCondMessageSizeExceeded: iothub.CodeMessageTooLarge,
	CondServerBusy:                  iothub.CodeServiceUnavailable,
	amqp.ErrCondInternalError:       iothub.CodeServerError,
}
