package amqpconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/amqpvalue"
)

// cbsLinks is the request/response pair on $cbs of one connection.
type cbsLinks struct {
	session *amqp.Session
	sender  *amqp.Sender
	recv    *amqp.Receiver
	replyTo string
}

func (g *generation) cbsLinksLocked(ctx context.Context) (*cbsLinks, error) {
	if g.cbs != nil {
		return g.cbs, nil
	}
	s, err := g.conn.NewSession(ctx, nil)
	if err != nil {
		return nil, err
	}
	replyTo := "cbs-" + randomID()
	recv, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: replyTo, Credit: 1})
	if err != nil {
		_ = s.Close(ctx)
		return nil, err
	}
	sender, err := s.NewSender(ctx, "$cbs", nil)
	if err != nil {
		_ = s.Close(ctx)
		return nil, err
	}
	g.cbs = &cbsLinks{session: s, sender: sender, recv: recv, replyTo: replyTo}
	return g.cbs, nil
}

// Claim puts a token for audience on the connection of l, and keeps it
// renewed until that connection is retired (or Unclaim). A claim already
// made on the same connection is not repeated.
func (c *Conn) Claim(ctx context.Context, l Link, audience string) error {
	g := c.generationOf(l)
	if g == nil {
		return ErrClosed
	}
	g.cbsMu.Lock()
	_, claimed := g.claims[audience]
	g.cbsMu.Unlock()
	if claimed {
		return nil
	}
	tok, err := c.putToken(ctx, g, audience)
	if err != nil {
		return err
	}
	g.cbsMu.Lock()
	if _, claimed := g.claims[audience]; !claimed {
		stop := make(chan struct{})
		g.claims[audience] = stop
		go c.renew(g, audience, tok, stop)
	}
	g.cbsMu.Unlock()
	return nil
}

// Unclaim forgets the claim of audience on the connection of l, so that
// the next Claim puts a token again: for a caller whose link the hub
// detached with amqp:unauthorized-access although its token should still
// be good (the hub's grant may have ended sooner).
func (c *Conn) Unclaim(l Link, audience string) {
	g := c.generationOf(l)
	if g == nil {
		return
	}
	g.cbsMu.Lock()
	defer g.cbsMu.Unlock()
	if stop, ok := g.claims[audience]; ok {
		close(stop)
		delete(g.claims, audience)
	}
}

// IsUnauthorized reports whether err is the peer's amqp:unauthorized-access
// on a link or an attach (not a refused put-token, which is final).
func IsUnauthorized(err error) bool {
	re, _ := remote(err)
	return re != nil && re.Condition == amqp.ErrCondUnauthorizedAccess
}

func (c *Conn) generationOf(l Link) *generation {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.id == l.Generation {
		return c.cur
	}
	return nil
}

// putToken gets a token for audience and puts it on g.
func (c *Conn) putToken(ctx context.Context, g *generation, audience string) (auth.AccessToken, error) {
	tok, err := c.cfg.Credential.Token(ctx, audience)
	if err != nil {
		return auth.AccessToken{}, fmt.Errorf("iothub: getting a token for %s: %w", audience, err)
	}
	return tok, c.put(ctx, g, audience, tok)
}

// put sends one put-token request and waits for its answer.
func (c *Conn) put(ctx context.Context, g *generation, audience string, tok auth.AccessToken) error {
	g.cbsMu.Lock()
	defer g.cbsMu.Unlock()
	links, err := g.cbsLinksLocked(ctx)
	if err != nil {
		return err
	}
	id := randomID()
	msg := &amqp.Message{
		Value:      tok.Value.Reveal(),
		Properties: &amqp.MessageProperties{MessageID: id, ReplyTo: &links.replyTo},
		ApplicationProperties: map[string]any{
			"operation":  "put-token",
			"type":       tok.Type,
			"name":       audience,
			"expiration": tok.ExpiresOn.Unix(),
		},
	}
	if err := links.sender.Send(ctx, msg, nil); err != nil {
		g.cbs = nil
		return err
	}
	for {
		resp, err := links.recv.Receive(ctx, nil)
		if err != nil {
			g.cbs = nil
			return err
		}
		_ = links.recv.AcceptMessage(ctx, resp)
		if resp.Properties != nil && resp.Properties.CorrelationID != nil && fmt.Sprint(resp.Properties.CorrelationID) != id {
			continue // the answer to an abandoned request
		}
		code := statusCode(resp.ApplicationProperties["status-code"])
		desc, _ := resp.ApplicationProperties["status-description"].(string)
		if code >= 200 && code < 300 {
			c.log(ctx, "iothub: CBS token accepted", slog.String("audience", audience), slog.Time("expires", tok.ExpiresOn))
			return nil
		}
		return cbsError(code, desc)
	}
}

func statusCode(v any) int {
	n, _ := amqpvalue.Int64(v)
	return int(n)
}

func cbsError(code int, desc string) error {
	e := &iothub.Error{StatusCode: code, Message: "CBS put-token refused: " + desc}
	switch code {
	case 401:
		e.Code, e.Name = iothub.CodeIotHubUnauthorizedAccess, iothub.CodeIotHubUnauthorizedAccess.String()
	case 404:
		e.Name = "NotFound"
	}
	return e
}

// renewPoll is how often a renewal asks the credential again while it
// still hands out the token already put.
const renewPoll = 100 * time.Millisecond

// renew puts a fresh token for audience before each expires, until g is
// retired: it wakes when four fifths of the token's remaining life have
// passed, then waits for the credential to hand out a new token (it renews
// on its own schedule) and puts that. A renewal that fails is retried; if
// the token lapses the hub detaches the links, whose owners recover.
func (c *Conn) renew(g *generation, audience string, last auth.AccessToken, stop <-chan struct{}) {
	wait := time.Until(last.ExpiresOn) * 4 / 5
	for {
		t := time.NewTimer(max(wait, renewPoll))
		select {
		case <-g.done:
			t.Stop()
			return
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		go func() {
			select {
			case <-g.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		tok, err := c.cfg.Credential.Token(ctx, audience)
		if err == nil && tok.Value.Reveal() == last.Value.Reveal() && time.Until(last.ExpiresOn) > 2*renewPoll {
			// Not renewed by the credential yet: ask again shortly.
			cancel()
			wait = renewPoll
			continue
		}
		if err == nil {
			err = c.put(ctx, g, audience, tok)
		}
		cancel()
		if err != nil {
			c.log(context.Background(), "iothub: CBS token renewal failed", slog.String("audience", audience), slog.String("error", err.Error()))
			wait = renewPoll
			continue
		}
		last = tok
		wait = time.Until(last.ExpiresOn) * 4 / 5
	}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
