package eventhub

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/internal/amqpconn"
)

// ErrOwnershipLost is returned (matched with [errors.Is]) by a receiver
// whose partition was taken by a receiver with an equal or higher owner
// level (amqp:link:stolen), and is the reason a Processor gives when
// another Processor claimed one of its partitions. Reading on would
// duplicate the new owner's work, so the receiver stops.
var ErrOwnershipLost = errors.New("iothub: partition ownership lost")

// Sentinels for the endpoint's refusals, matched with [errors.Is]; the
// errors themselves are *iothub.Error values that unwrap to go-amqp's.
var (
	// ErrUnauthorized: the credential's token was refused, or its policy
	// lacks ServiceConnect.
	ErrUnauthorized = iothub.ErrUnauthorized
	// ErrNotFound: the entity, consumer group or partition does not exist.
	ErrNotFound = &iothub.Error{StatusCode: 404, Name: "NotFound"}
)

// ownershipLostError carries the service's description while matching
// ErrOwnershipLost.
type ownershipLostError struct{ cause error }

func (e *ownershipLostError) Error() string {
	return ErrOwnershipLost.Error() + ": " + e.cause.Error()
}
func (e *ownershipLostError) Is(target error) bool { return target == ErrOwnershipLost }
func (e *ownershipLostError) Unwrap() error        { return e.cause }

// errorCodes are the meanings of AMQP conditions on the Event Hub
// endpoint.
var errorCodes = map[amqp.ErrCond]iothub.ErrorCode{
	amqp.ErrCondUnauthorizedAccess: iothub.CodeIotHubUnauthorizedAccess,
}

// linkError turns an error of the endpoint into the package's typed
// errors.
func linkError(err error) error {
	if err == nil {
		return nil
	}
	if condition(err) == amqp.ErrCondStolen {
		return &ownershipLostError{cause: err}
	}
	he := amqpconn.HubError(err, errorCodes)
	var e *iothub.Error
	if errors.As(he, &e) && e.StatusCode == 0 {
		if c := condition(err); c == amqp.ErrCondNotFound {
			e.StatusCode, e.Name = 404, "NotFound"
		}
	}
	return he
}

func condition(err error) amqp.ErrCond {
	if re := remoteError(err); re != nil {
		return re.Condition
	}
	return ""
}

// remoteError returns the error condition the peer sent, whichever
// go-amqp type carries it.
func remoteError(err error) *amqp.Error {
	var le *amqp.LinkError
	if errors.As(err, &le) && le.RemoteErr != nil {
		return le.RemoteErr
	}
	var se *amqp.SessionError
	if errors.As(err, &se) && se.RemoteErr != nil {
		return se.RemoteErr
	}
	var ce *amqp.ConnError
	if errors.As(err, &ce) && ce.RemoteErr != nil {
		return ce.RemoteErr
	}
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// closeQuietly closes a go-amqp link or session without waiting long for
// a peer that may be gone.
func closeQuietly(close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = close(ctx)
}

const closeTimeout = 5 * time.Second

func slogPartition(id string) slog.Attr { return slog.String("partition", id) }
func slogErr(err error) slog.Attr       { return slog.String("error", err.Error()) }
func slogInt(k string, n int) slog.Attr { return slog.Int(k, n) }
