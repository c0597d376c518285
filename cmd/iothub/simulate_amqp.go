package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/amqpconn"
	"github.com/iotkit-go/iothub/internal/ids"
)

// noToken is the credential of an X.509 device over AMQP, which puts no
// token on $cbs: its certificate is its credential.
type noToken struct{}

func (noToken) Token(context.Context, string) (auth.AccessToken, error) {
	return auth.AccessToken{}, errors.New("an X.509 device puts no token")
}

// runAMQP plays one device over AMQP as the device SDKs do: its own token
// on $cbs (renewed before it expires) or its certificate, telemetry on
// /messages/events, C2D on /messages/devicebound (accepted), direct methods
// and the twin on their link pairs. A lost connection ends the device with
// its error.
func (s *simulator) runAMQP(ctx context.Context, d *auth.DeviceConnectionString, cert *tls.Certificate) error {
	host := d.HostName
	if d.GatewayHostName != "" {
		host = d.GatewayHostName
	}
	cfg := amqpconn.Config{HostName: host, PlainTCP: d.UseDevelopmentEmulator, TLSConfig: s.tlsFor(cert), Credential: noToken{}}
	if !d.X509 {
		cred, err := auth.NewSharedAccessKeyCredential("", d.SharedAccessKey.Reveal(), &auth.SharedAccessKeyCredentialOptions{TokenLifetime: simTokenLifetime})
		if err != nil {
			return err
		}
		cfg.Credential = cred
	}
	conn, err := amqpconn.New(cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	link, err := conn.Get(ctx)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", host, err)
	}
	if !d.X509 {
		if err := conn.Claim(ctx, link, d.Resource()); err != nil {
			return err
		}
	}
	sess, err := link.Conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	base := "/devices/" + d.DeviceID
	if d.ModuleID != "" {
		base += "/modules/" + d.ModuleID
	}
	events, err := sess.NewSender(ctx, base+"/messages/events", nil)
	if err != nil {
		return fmt.Errorf("attaching the telemetry link: %w", err)
	}
	if err := s.amqpC2D(ctx, sess, base); err != nil {
		return err
	}
	if err := s.amqpMethods(ctx, sess, base); err != nil {
		return err
	}
	if err := s.amqpTwin(ctx, sess, base); err != nil {
		return err
	}
	s.stats.connected.Add(1)
	defer s.stats.connected.Add(-1)
	ct, ce := "application/json", "utf-8"
	return s.telemetryLoop(ctx, func(body []byte) error {
		return events.Send(ctx, &amqp.Message{Data: [][]byte{body}, Properties: &amqp.MessageProperties{ContentType: &ct, ContentEncoding: &ce}}, nil)
	})
}

// pair attaches the sender and receiver of a method or twin channel.
func pair(ctx context.Context, sess *amqp.Session, addr, channel string) (*amqp.Sender, *amqp.Receiver, error) {
	props := map[string]any{"com.microsoft:channel-correlation-id": channel + ":" + ids.NewUUID(), "com.microsoft:api-version": iothub.DefaultAPIVersion}
	snd, err := sess.NewSender(ctx, addr, &amqp.SenderOptions{Properties: props, SettlementMode: amqp.SenderSettleModeSettled.Ptr()})
	if err != nil {
		return nil, nil, fmt.Errorf("attaching %s: %w", addr, err)
	}
	rcv, err := sess.NewReceiver(ctx, addr, &amqp.ReceiverOptions{Properties: props, Credit: 10})
	if err != nil {
		return nil, nil, fmt.Errorf("attaching %s: %w", addr, err)
	}
	return snd, rcv, nil
}

// amqpC2D accepts (completes) every C2D message.
func (s *simulator) amqpC2D(ctx context.Context, sess *amqp.Session, base string) error {
	rcv, err := sess.NewReceiver(ctx, base+"/messages/devicebound", &amqp.ReceiverOptions{Credit: 10})
	if err != nil {
		return fmt.Errorf("attaching the C2D link: %w", err)
	}
	go func() {
		for {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				return
			}
			if rcv.AcceptMessage(ctx, m) == nil {
				s.stats.c2d.Add(1)
			}
		}
	}()
	return nil
}

// amqpMethods answers every direct method.
func (s *simulator) amqpMethods(ctx context.Context, sess *amqp.Session, base string) error {
	snd, rcv, err := pair(ctx, sess, base+"/methods/devicebound", "methods")
	if err != nil {
		return err
	}
	go func() {
		for {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				return
			}
			_ = rcv.AcceptMessage(ctx, m)
			name, _ := m.ApplicationProperties["IoThub-methodname"].(string)
			a := s.answer(name, m.GetData())
			var corr any
			if m.Properties != nil {
				corr = m.Properties.CorrelationID
			}
			if snd.Send(ctx, &amqp.Message{
				Data:                  [][]byte{a.payload},
				Properties:            &amqp.MessageProperties{CorrelationID: corr},
				ApplicationProperties: map[string]any{"IoThub-status": int32(a.status)},
			}, nil) == nil {
				s.stats.methods.Add(1)
			}
		}
	}()
	return nil
}

// amqpTwin subscribes to desired properties and reports each back.
func (s *simulator) amqpTwin(ctx context.Context, sess *amqp.Session, base string) error {
	snd, rcv, err := pair(ctx, sess, base+"/twin", "twin")
	if err != nil {
		return err
	}
	request := func(op, resource string, body []byte) error {
		return snd.Send(ctx, &amqp.Message{
			Data:        [][]byte{body},
			Annotations: amqp.Annotations{"operation": op, "resource": resource},
			Properties:  &amqp.MessageProperties{CorrelationID: ids.NewUUID()},
		}, nil)
	}
	if err := request("PUT", "/notifications/twin/properties/desired", []byte(" ")); err != nil {
		return err
	}
	go func() {
		for {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				return
			}
			_ = rcv.AcceptMessage(ctx, m)
			if m.Properties != nil && m.Properties.CorrelationID != nil {
				continue // an answer to one of ours
			}
			var patch map[string]any
			if json.Unmarshal(m.GetData(), &patch) != nil {
				continue
			}
			delete(patch, "$version")
			body, _ := json.Marshal(patch)
			if request("PATCH", "/properties/reported", body) == nil {
				s.stats.desired.Add(1)
			}
		}
	}()
	return nil
}
