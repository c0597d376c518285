package c2d

import (
	"context"
	"log/slog"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/internal/amqpconn"
)

// closeTimeout bounds the closing of a link or session after a failure.
const closeTimeout = 5 * time.Second

// receiveLoop attaches a receiver to address and hands each message to
// handle until ctx ends: nil from handle completes (accepts) the message,
// an error abandons (releases) it so the hub delivers it again, and
// errDiscard rejects it. Lost links and connections are recovered with
// backoff; only fatal errors (unauthorized…) end the loop early.
func (c *Client) receiveLoop(ctx context.Context, address string, handle func(ctx context.Context, m *amqp.Message) error) error {
	failures := 0
	for {
		err := c.receiveOnce(ctx, address, handle, func() { failures = 0 })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		act := amqpconn.Classify(err)
		if act == amqpconn.Fatal && !(amqpconn.IsUnauthorized(err) && failures == 0) {
			return hubError(err)
		}
		c.log(ctx, "iothub: receiver lost, recovering", slog.String("address", address), slog.String("error", err.Error()))
		failures++
		if err := c.conn.Sleep(ctx, failures, err); err != nil {
			return err
		}
	}
}

// receiveOnce runs one receiver link until it fails; ok is called after
// each message handled, to reset the caller's backoff.
func (c *Client) receiveOnce(ctx context.Context, address string, handle func(context.Context, *amqp.Message) error, ok func()) error {
	s, l, err := c.session(ctx)
	if err != nil {
		if amqpconn.Classify(err) == amqpconn.RecreateConn {
			c.conn.Reset(l.Generation)
		}
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = s.Close(closeCtx)
	}()
	r, err := s.NewReceiver(ctx, address, &amqp.ReceiverOptions{Credit: 1, SettlementMode: amqp.ReceiverSettleModeFirst.Ptr()})
	if err != nil {
		if amqpconn.IsUnauthorized(err) {
			c.conn.Unclaim(l, c.host) // the next attempt puts a new token
		}
		return err
	}
	for {
		m, err := r.Receive(ctx, nil)
		if err != nil {
			if amqpconn.Classify(err) == amqpconn.RecreateConn {
				c.conn.Reset(l.Generation)
			}
			if amqpconn.IsUnauthorized(err) {
				c.conn.Unclaim(l, c.host)
			}
			return err
		}
		herr := handle(ctx, m)
		if err := settle(ctx, r, m, herr); err != nil {
			return err
		}
		ok()
	}
}

// settleTimeout bounds the settlement of a handled message.
const settleTimeout = 10 * time.Second

// settle tells the hub what became of a message the handler returned
// from. It has a context of its own, bounded, not the caller's: a handler
// that cancels the caller's context and returns nil (the way to stop after
// N messages) has handled the message, which must be completed, or the hub
// delivers it again to the next receiver.
func settle(ctx context.Context, r *amqp.Receiver, m *amqp.Message, herr error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	switch {
	case herr == nil:
		return r.AcceptMessage(sctx, m)
	case herr == errDiscard:
		return r.RejectMessage(sctx, m, &amqp.Error{Condition: amqp.ErrCondDecodeError, Description: "the client could not decode this message"})
	default:
		return r.ReleaseMessage(sctx, m)
	}
}

func (c *Client) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if c.opts.Logger == nil || !c.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.opts.Logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}
