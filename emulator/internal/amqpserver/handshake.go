package amqpserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

const (
	mechAnonymous = "ANONYMOUS"
	mechPlain     = "PLAIN"
)

var errHandshakeRefused = errors.New("amqpserver: protocol header refused")

func (c *Conn) saslEnabled() bool {
	return !c.srv.opts.DisableAnonymous || c.srv.opts.SASLPlain != nil
}

// handshake runs protocol headers, the optional SASL layer and the open exchange.
func (c *Conn) handshake() error {
	c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.HandshakeTimeout))
	preferred := encoding.ProtoAMQP
	if c.saslEnabled() {
		preferred = encoding.ProtoSASL
	}
	id, err := c.readProtocolHeader()
	if err != nil {
		if errors.Is(err, encoding.ErrDecode) {
			// Not a header we speak (TLS, another version): answer with the one
			// we support and close, as the specification asks.
			c.refuseHeader(preferred)
			return errHandshakeRefused
		}
		return err
	}
	switch {
	case id == encoding.ProtoSASL && c.saslEnabled():
		if err := c.saslExchange(); err != nil {
			return err
		}
		if id, err = c.readProtocolHeader(); err != nil || id != encoding.ProtoAMQP {
			if err == nil || errors.Is(err, encoding.ErrDecode) {
				c.refuseHeader(encoding.ProtoAMQP)
				return errHandshakeRefused
			}
			return err
		}
	case id == encoding.ProtoAMQP && !c.srv.opts.RequireSASL:
		c.mu.Lock()
		c.identity = Identity{Mechanism: "NONE"}
		c.mu.Unlock()
	default:
		c.refuseHeader(preferred)
		return errHandshakeRefused
	}
	hdr := encoding.ProtocolHeader(encoding.ProtoAMQP)
	c.fw.appendRaw(hdr[:])
	return c.openExchange()
}

func (c *Conn) refuseHeader(id uint8) {
	hdr := encoding.ProtocolHeader(id)
	c.fw.appendRaw(hdr[:])
}

func (c *Conn) readProtocolHeader() (uint8, error) {
	var hdr [encoding.HeaderSize]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return 0, err
	}
	id, err := encoding.ParseProtocolHeader(hdr[:])
	if err == nil && id != encoding.ProtoAMQP && id != encoding.ProtoSASL {
		err = fmt.Errorf("%w: protocol id %d is not served", encoding.ErrDecode, id)
	}
	return id, err
}

// saslExchange offers the mechanisms, checks the client's choice and sends the outcome.
func (c *Conn) saslExchange() error {
	hdr := encoding.ProtocolHeader(encoding.ProtoSASL)
	c.fw.appendRaw(hdr[:])
	var mechs []encoding.Symbol
	if c.srv.opts.SASLPlain != nil {
		mechs = append(mechs, mechPlain)
	}
	if !c.srv.opts.DisableAnonymous {
		mechs = append(mechs, mechAnonymous)
	}
	_ = c.fw.append(encoding.FrameTypeSASL, 0, &encoding.SASLMechanisms{Mechanisms: mechs}, nil)

	h, body, err := c.readFrame(c.srv.opts.MaxFrameSize)
	if err != nil {
		return err
	}
	p, err := encoding.DecodeBody(h.Type, body)
	init, ok := p.(*encoding.SASLInit)
	if err != nil || !ok || h.Type != encoding.FrameTypeSASL {
		c.saslOutcome(encoding.SASLCodeSysPerm)
		return fmt.Errorf("amqpserver: expected sasl-init: %v", err)
	}
	id, code, reason := c.authenticate(init)
	c.saslOutcome(code)
	if code != encoding.SASLCodeOK {
		c.log.Info("amqp sasl refused", "mechanism", string(init.Mechanism), "reason", reason)
		return fmt.Errorf("amqpserver: sasl refused: %s", reason)
	}
	c.mu.Lock()
	c.identity = id
	c.mu.Unlock()
	return nil
}

func (c *Conn) saslOutcome(code uint8) {
	_ = c.fw.append(encoding.FrameTypeSASL, 0, &encoding.SASLOutcome{Code: code}, nil)
}

func (c *Conn) authenticate(init *encoding.SASLInit) (Identity, uint8, string) {
	switch string(init.Mechanism) {
	case mechAnonymous:
		if c.srv.opts.DisableAnonymous {
			break
		}
		return Identity{Mechanism: mechAnonymous}, encoding.SASLCodeOK, ""
	case mechPlain:
		if c.srv.opts.SASLPlain == nil {
			break
		}
		// PLAIN: [authzid] NUL authcid NUL passwd (RFC 4616).
		parts := bytes.Split(init.InitialResponse, []byte{0})
		if len(parts) != 3 {
			return Identity{}, encoding.SASLCodeAuth, "malformed PLAIN response"
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.srv.opts.HandshakeTimeout)
		defer cancel()
		id, err := c.srv.opts.SASLPlain(ctx, string(parts[1]), string(parts[2]))
		if err != nil {
			var se *SASLError
			if errors.As(err, &se) && se.Code != encoding.SASLCodeOK {
				return Identity{}, se.Code, se.Reason
			}
			return Identity{}, encoding.SASLCodeAuth, err.Error()
		}
		if id.Mechanism == "" {
			id.Mechanism = mechPlain
		}
		if id.Name == "" {
			id.Name = string(parts[1])
		}
		return id, encoding.SASLCodeOK, ""
	}
	return Identity{}, encoding.SASLCodeAuth, "mechanism " + string(init.Mechanism) + " is not offered"
}

// openExchange reads the client's open and answers with ours.
func (c *Conn) openExchange() error {
	// Before open the largest frame either side may send is 512 bytes; we
	// accept up to our own maximum, as clients with long container ids exceed it.
	h, body, err := c.readFrame(c.srv.opts.MaxFrameSize)
	if err != nil {
		var ce *connError
		if errors.As(err, &ce) {
			ce.sendOpen = true
		}
		return err
	}
	p, err := encoding.DecodeBody(h.Type, body)
	if err != nil {
		return &connError{e: &Error{Condition: CondDecodeError, Description: err.Error()}, sendOpen: true}
	}
	o, ok := p.(*encoding.Open)
	if !ok || h.Type != encoding.FrameTypeAMQP {
		return &connError{e: &Error{Condition: CondIllegalState, Description: fmt.Sprintf("expected open, got %T", p)}, sendOpen: true}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peerOpen = o
	c.peerMaxOut = min(o.MaxFrameSize, 1<<20)
	if c.peerMaxOut < encoding.MinMaxFrameSize {
		c.peerMaxOut = encoding.MinMaxFrameSize
	}
	c.channelMax = min(o.ChannelMax, c.srv.opts.ChannelMax)
	if o.IdleTimeout > 0 {
		c.peerIdle = time.Duration(o.IdleTimeout) * time.Millisecond
	}
	c.opened = true
	if c.closeSent {
		return nil
	}
	c.sendLocked(0, c.ourOpen(), nil)
	c.nc.SetReadDeadline(time.Time{})
	return nil
}

// ParseSASUsername splits a SASL PLAIN username of the IoT Hub service form
// "<policy>@sas.root.<hub>", as a ServerOptions.SASLPlain check needs.
func ParseSASUsername(username string) (policy, hub string, ok bool) {
	policy, hub, found := strings.Cut(username, "@sas.root.")
	if !found || policy == "" || hub == "" {
		return "", "", false
	}
	return policy, hub, true
}
