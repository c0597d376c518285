package c2d

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/internal/amqpconn"
	"github.com/iotkit-go/iothub/internal/ids"
)

// Send queues msg for device deviceID and returns once the hub has
// accepted it, or with the hub's refusal: [iothub.ErrDeviceNotFound],
// [iothub.ErrQueueFull] (50 messages already queued),
// [iothub.ErrMessageTooLarge] (checked before sending),
// [iothub.ErrUnauthorized]. Failures to reach the hub are retried per the
// client's RetryOptions while the message has certainly not left; once it
// may have, Send returns an [*OutcomeUnknownError] rather than risk a
// duplicate.
func (c *Client) Send(ctx context.Context, deviceID string, msg *Message) error {
	if err := ids.Device(deviceID); err != nil {
		return err
	}
	return c.send(ctx, address(deviceID, ""), msg)
}

// SendToModule queues msg for module moduleID of device deviceID, with the
// rules of Send ([iothub.ErrModuleNotFound] for an unknown module).
func (c *Client) SendToModule(ctx context.Context, deviceID, moduleID string, msg *Message) error {
	if err := ids.Module(deviceID, moduleID); err != nil {
		return err
	}
	return c.send(ctx, address(deviceID, moduleID), msg)
}

func (c *Client) send(ctx context.Context, to string, msg *Message) error {
	am, err := encode(msg, to)
	if err != nil {
		return err
	}
	for retry := 0; ; retry++ {
		s, l, err := c.getSender(ctx)
		gen := l.Generation
		if err == nil && gone(l) {
			// The connection ended while the sender sat idle: nothing can
			// have been sent on it. Open a new one, without counting a
			// retry, rather than report an outcome that is known.
			c.recover(errIdleConnLost, s, gen)
			if retry > 0 {
				if err := c.conn.Sleep(ctx, retry, errIdleConnLost); err != nil {
					return err
				}
			}
			continue
		}
		if err == nil {
			err = s.Send(ctx, am, nil)
			if err == nil {
				return nil
			}
			if !outcomeKnown(err) {
				// The transfer may have reached the hub: report, never resend.
				c.recover(err, s, gen)
				return &OutcomeUnknownError{MessageID: msg.MessageID, To: to, Cause: err}
			}
		} else if amqpconn.IsUnauthorized(err) && retry == 0 {
			// The attach was refused although a token was put: the hub's
			// grant ended early. Put a new token and try once more; a
			// refused put-token is final.
			c.conn.Unclaim(amqpconn.Link{Generation: gen}, c.host)
			continue
		}
		act := amqpconn.Classify(err)
		if act == amqpconn.Fatal || retry >= c.conn.MaxRetries() {
			return hubError(err)
		}
		c.recover(err, s, gen)
		if err := c.conn.Sleep(ctx, retry+1, err); err != nil {
			return err
		}
	}
}

// errIdleConnLost stands for a connection found ended before a send:
// recovering from it resets the connection.
var errIdleConnLost = &amqp.ConnError{}

// ErrOutcomeUnknown matches an *OutcomeUnknownError.
var ErrOutcomeUnknown = errors.New("iothub: the message may or may not have been queued")

// OutcomeUnknownError reports a message whose link or connection failed
// while it was in flight: the hub may have queued it or not. Send does not
// resend it, so that it is never queued twice; resend it yourself if a
// duplicate is harmless (feedback, by MessageID, tells which happened).
// Cause is the AMQP error, reachable with errors.As.
type OutcomeUnknownError struct {
	MessageID string
	To        string
	Cause     error
}

// Error implements error.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("iothub: message %q to %s may or may not have been queued: %v", e.MessageID, e.To, e.Cause)
}

// Is matches ErrOutcomeUnknown.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// Unwrap returns the AMQP error.
func (e *OutcomeUnknownError) Unwrap() error { return e.Cause }

// outcomeKnown reports whether a Send error says for sure what the hub did:
// a refusal (rejected outcome) means the message was not queued.
func outcomeKnown(err error) bool {
	var ae *amqp.Error
	var le *amqp.LinkError
	var ce *amqp.ConnError
	var se *amqp.SessionError
	return errors.As(err, &ae) && !errors.As(err, &le) && !errors.As(err, &ce) && !errors.As(err, &se)
}

// getSender returns the shared sender link and the connection it is on,
// opening them if needed. One caller opens it while the others wait.
func (c *Client) getSender(ctx context.Context) (*amqp.Sender, amqpconn.Link, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, amqpconn.Link{}, amqpconn.ErrClosed
	}
	if c.sender != nil {
		return c.sender, c.slink, nil
	}
	s, l, err := c.session(ctx)
	if err != nil {
		return nil, l, err
	}
	snd, err := s.NewSender(ctx, "/messages/devicebound", &amqp.SenderOptions{SettlementMode: amqp.SenderSettleModeUnsettled.Ptr()})
	if err != nil {
		_ = s.Close(ctx)
		return nil, l, err
	}
	c.sender, c.slink = snd, l
	return snd, l, nil
}

// gone reports whether the connection of l has ended (or been retired).
func gone(l amqpconn.Link) bool {
	if l.Conn == nil {
		return false
	}
	select {
	case <-l.Conn.Done():
		return true
	case <-l.Done:
		return true
	default:
		return false
	}
}

// recover drops the sender s (if still current) and, when err says the
// connection is gone, resets the connection of generation gen.
func (c *Client) recover(err error, s *amqp.Sender, gen uint64) {
	act := amqpconn.Classify(err)
	if act == amqpconn.RecreateLink || act == amqpconn.RecreateConn || !outcomeKnown(err) {
		c.mu.Lock()
		if c.sender == s {
			c.sender = nil
		}
		c.mu.Unlock()
	}
	if act == amqpconn.RecreateConn {
		c.conn.Reset(gen)
	}
	if amqpconn.IsUnauthorized(err) {
		c.conn.Unclaim(amqpconn.Link{Generation: gen}, c.host)
	}
}
