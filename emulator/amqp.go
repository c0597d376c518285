package emulator

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/cbs"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/listener"
)

// amqpSide is the hub's AMQP half: the engine and the claims-based
// security on it; the nodes it serves are the hub core's C2D queues and
// partitions.
type amqpSide struct {
	server *amqpserver.Server
	cbs    *cbs.Authority
}

// startAMQP builds the AMQP side once the listener's address is known, and
// routes the port's AMQP connections to it.
func (e *Emulator) startAMQP(o *Options) error {
	hub := e.hub
	a := &amqpSide{}
	a.server = amqpserver.NewServer(&amqpserver.ServerOptions{
		ContainerID: hub.HubName(),
		SASLPlain:   e.saslPlain,
		Logger:      e.logger,
	})
	a.cbs = cbs.New(cbs.Options{Verify: e.verifyCBSToken, Now: hub.Now})
	// The redirect names the host of the connection strings, and the port
	// that serves AMQP: the one port, or 5671.
	host, port := e.hostName, PortAMQPS
	if !e.standard {
		h, portText, _ := net.SplitHostPort(e.hostName)
		host = h
		port, _ = strconv.Atoi(portText)
	}
	err := hub.OpenMessaging(eventhubs.Options{
		Partitions:     o.Partitions,
		ConsumerGroups: o.ConsumerGroups,
		AdvertiseHost:  host,
		AdvertisePort:  port,
		AdvertisePlain: !e.tls,
		Authorize: func(conn *amqpserver.Conn, address string) error {
			return a.cbs.Authorize(conn, address, cbs.ServiceConnect)
		},
		// Receivers are watched: one whose token lapses is detached.
		AuthorizeLink: func(l *amqpserver.Link) error { return a.cbs.AuthorizeLink(l, cbs.ServiceConnect) },
	})
	if err != nil {
		_ = a.server.Close()
		return err
	}
	// C2D, feedback and file notifications take a policy with ServiceConnect,
	// or an Entra ID token with each node's data action.
	serviceLink := func(l *amqpserver.Link) error { return a.cbs.AuthorizeLink(l, serviceLinkNeed(l.Address())) }
	for _, err := range []error{
		a.server.Handle("$cbs", a.cbs.Node()),
		hub.C2D().Register(a.server, serviceLink),
		hub.Events().Register(a.server),
	} {
		if err != nil {
			a.close()
			hub.CloseMessaging()
			return fmt.Errorf("emulator: AMQP nodes: %w", err)
		}
	}
	e.amqp = a
	e.ports.Handle(listener.AMQP, func(c net.Conn) { _ = a.server.ServeConn(hub.BaseContext(), c) })
	return nil
}

func (a *amqpSide) close() {
	_ = a.server.Close()
}

// verifyCBSToken checks a put-token token: a SAS signed with a policy key,
// unexpired, whose resource names this hub (by its host, its
// <hub>.azure-devices.net name, or the Event Hub-compatible endpoint on the
// same host); or an Entra ID token of this emulator, which covers the whole
// hub with the CBS rights of its roles' data actions until it expires.
func (e *Emulator) verifyCBSToken(tokenType, token string) (cbs.Grant, error) {
	switch tokenType {
	case auth.TokenTypeSAS:
	case auth.TokenTypeJWT:
		g, err := e.entra.Verify(token, e.hub.Now())
		if err != nil {
			return cbs.Grant{}, err
		}
		return cbs.Grant{Principal: "Entra ID principal " + g.Principal, Rights: cbsRights(g.Actions), Expires: g.Expires}, nil
	default:
		return cbs.Grant{}, fmt.Errorf("token type %q is not accepted; use %s or %s", tokenType, auth.TokenTypeSAS, auth.TokenTypeJWT)
	}
	p, sas, textKey, err := e.hub.VerifySAS(token)
	if err != nil {
		return cbs.Grant{}, err
	}
	path, ok := e.hub.ResourcePath(sas.Resource)
	if !ok {
		return cbs.Grant{}, errors.New("the token's resource (sr) does not name this hub")
	}
	// The Event Hubs way of signing is good for the Event Hub-compatible
	// entity only, as on Azure, where that endpoint is an Event Hubs
	// namespace.
	if entity := strings.ToLower(e.hub.HubName()); textKey && path != entity && !strings.HasPrefix(path, entity+"/") {
		return cbs.Grant{}, fmt.Errorf("the signature does not match the keys of policy '%s'", p.Name)
	}
	return cbs.Grant{Principal: p.Name, Rights: cbs.Rights(p.Rights), Path: path, Expires: sas.Expiry}, nil
}

// saslPlain checks SASL PLAIN in its two forms. IoT Hub's: user
// "<policy>@sas.root.<hub>", password a SAS token of that policy, good for
// the whole hub with the policy's rights. Event Hubs': user the policy name,
// password the policy's key itself, which Event Hubs documents for its
// namespaces and which is therefore good for the Event Hub-compatible
// entity only, as on Azure, where that endpoint is an Event Hubs namespace.
func (e *Emulator) saslPlain(_ context.Context, user, password string) (amqpserver.Identity, error) {
	policy, hub, ok := strings.Cut(user, "@sas.root.")
	if !ok {
		return e.saslPlainKey(user, password)
	}
	if !strings.EqualFold(hub, e.hub.HubName()) {
		return amqpserver.Identity{}, errors.New("user name is not <policy>@sas.root.<hub> for this hub")
	}
	p, sas, textKey, err := e.hub.VerifySAS(password)
	if err != nil {
		return amqpserver.Identity{}, err
	}
	if textKey {
		return amqpserver.Identity{}, fmt.Errorf("the signature does not match the keys of policy '%s'", p.Name)
	}
	if !strings.EqualFold(p.Name, policy) {
		return amqpserver.Identity{}, errors.New("the token is not signed by the policy in the user name")
	}
	if _, ok := e.hub.ResourcePath(sas.Resource); !ok {
		return amqpserver.Identity{}, errors.New("the token's resource (sr) does not name this hub")
	}
	return amqpserver.Identity{Mechanism: "PLAIN", Name: user, Rights: strings.Split(p.Rights.String(), ", "), Expires: sas.Expiry}, nil
}

// saslPlainKey checks the Event Hubs form of SASL PLAIN: user the policy's
// name, password one of its keys.
func (e *Emulator) saslPlainKey(user, password string) (amqpserver.Identity, error) {
	p, ok := e.hub.Policy(user)
	if !ok {
		return amqpserver.Identity{}, fmt.Errorf("no shared access policy is named '%s' (user names are <policy> with the policy's key, or <policy>@sas.root.<hub> with a SAS token)", user)
	}
	if !keyMatches(password, p.PrimaryKey) && !keyMatches(password, p.SecondaryKey) {
		return amqpserver.Identity{}, fmt.Errorf("the password is not a key of policy '%s'", p.Name)
	}
	return amqpserver.Identity{Mechanism: "PLAIN", Name: p.Name, Rights: strings.Split(p.Rights.String(), ", "), Scope: strings.ToLower(e.hub.HubName())}, nil
}

// keyMatches compares a presented key with a policy's in constant time.
func keyMatches(presented, key string) bool {
	return key != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(key)) == 1
}

// EventHubConnectionString returns the connection string of the hub's
// built-in Event Hub-compatible endpoint, for the iothubowner policy: what
// the portal shows under Built-in endpoints, pointing at this emulator.
func (e *Emulator) EventHubConnectionString() string {
	p, _ := e.policy("iothubowner")
	return e.eventHubConnectionString(p)
}

func (e *Emulator) eventHubConnectionString(p Policy) string {
	s := "Endpoint=sb://" + e.HostName() + "/;SharedAccessKeyName=" + p.Name + ";SharedAccessKey=" + p.PrimaryKey + ";EntityPath=" + e.hub.HubName()
	if !e.tls {
		s += ";UseDevelopmentEmulator=true"
	}
	return s
}

// PartitionIDs returns the ids of the built-in endpoint's partitions.
func (e *Emulator) PartitionIDs() []string { return e.hub.Events().PartitionIDs() }

// DropAMQPConnections closes every AMQP connection to the emulator, as a
// network failure or a hub failover would; clients must recover. It
// returns how many it closed.
func (e *Emulator) DropAMQPConnections() int {
	conns := e.amqp.server.Conns()
	for _, c := range conns {
		c.Close(&amqpserver.Error{Condition: amqpserver.CondConnectionForced, Description: "connection dropped by the emulator's fault injection"})
	}
	return len(conns)
}

// DetachTelemetryReceivers detaches every receiver of the built-in endpoint
// with condition (such as "com.microsoft:server-busy" or
// "amqp:link:detach-forced"), and returns how many it detached.
func (e *Emulator) DetachTelemetryReceivers(condition string) int {
	return e.hub.Events().DetachReceivers(condition, "detached by the emulator's fault injection")
}
