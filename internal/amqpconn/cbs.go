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
// renewed until that connection is retired. A claim already made on the
// same connection is not repeated.
func (c *Conn) Claim(ctx context.Context, l Link, audience string) error {
	g := c.generationOf(l)
	if g == nil {
		return ErrClosed
	}
	g.cbsMu.Lock()
	claimed := g.claims[audience]
	g.cbsMu.Unlock()
	if claimed {
		return nil
	}
	exp, err := c.putToken(ctx, g, audience)
	if err != nil {
		return err
	}
	g.cbsMu.Lock()
	if !g.claims[audience] {
		g.claims[audience] = true
		go c.renew(g, audience, exp)
	}
	g.cbsMu.Unlock()
	return nil
}

func (c *Conn) generationOf(l Link) *generation {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.id == l.Generation {
		return c.cur
	}
	return nil
}

// putToken sends one put-token request and waits for its answer.
func (c *Conn) putToken(ctx context.Context, g *generation, audience string) (time.Time, error) {
	tok, err := c.cfg.Credential.Token(ctx, audience)
	if err != nil {
		return time.Time{}, fmt.Errorf("iothub: getting a token for %s: %w", audience, err)
	}
	g.cbsMu.Lock()
	defer g.cbsMu.Unlock()
	links, err := g.cbsLinksLocked(ctx)
	if err != nil {
		return time.Time{}, err
	}
	id := randomID()
	msg := &amqp.Message{
		Value:      tok.Value,
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
		return time.Time{}, err
	}
	for {
		resp, err := links.recv.Receive(ctx, nil)
		if err != nil {
			g.cbs = nil
			return time.Time{}, err
		}
		_ = links.recv.AcceptMessage(ctx, resp)
		if resp.Properties != nil && resp.Properties.CorrelationID != nil && fmt.Sprint(resp.Properties.CorrelationID) != id {
			continue // the answer to an abandoned request
		}
		code := statusCode(resp.ApplicationProperties["status-code"])
		desc, _ := resp.ApplicationProperties["status-description"].(string)
		if code >= 200 && code < 300 {
			c.log(ctx, "iothub: CBS token accepted", slog.String("audience", audience), slog.Time("expires", tok.ExpiresOn))
			return tok.ExpiresOn, nil
		}
		return time.Time{}, cbsError(code, desc)
	}
}

func statusCode(v any) int {
	switch n := v.(type) {
	case int32:
		return int(n)
	case int64:
		return int(n)
	case int:
		return n
	case uint32:
		return int(n)
	}
	return 0
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

// renewMin is the shortest wait between two renewals of one claim.
const renewMin = 100 * time.Millisecond

// renew puts a fresh token for audience before each expires, until g is
// retired. A renewal that fails is retried; if the token lapses the hub
// detaches the links, whose owners recover through a new connection.
func (c *Conn) renew(g *generation, audience string, expires time.Time) {
	last := expires
	for {
		wait := max(time.Until(last)*4/5, renewMin)
		t := time.NewTimer(wait)
		select {
		case <-g.done:
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
		exp, err := c.putToken(ctx, g, audience)
		cancel()
		if err != nil {
			c.log(context.Background(), "iothub: CBS token renewal failed", slog.String("audience", audience), slog.String("error", err.Error()))
			continue
		}
		last = exp
	}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
