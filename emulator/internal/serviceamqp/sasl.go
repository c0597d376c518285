package serviceamqp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// saslPlain checks SASL PLAIN in its two forms. IoT Hub's: user
// "<policy>@sas.root.<hub>", password a SAS token of that policy, good for
// the whole hub with the policy's rights. Event Hubs': user the policy name,
// password the policy's key itself, which Event Hubs documents for its
// namespaces and which is therefore good for the Event Hub-compatible
// entity only, as on Azure, where that endpoint is an Event Hubs namespace.
func (s *Service) saslPlain(_ context.Context, user, password string) (amqpserver.Identity, error) {
	policy, hub, ok := strings.Cut(user, "@sas.root.")
	if !ok {
		if identity, hub, isDevice := strings.Cut(user, "@sas."); isDevice {
			return s.saslPlainDevice(identity, hub, password)
		}
		return s.saslPlainKey(user, password)
	}
	if !strings.EqualFold(hub, s.hub.HubName()) {
		return amqpserver.Identity{}, errors.New("user name is not <policy>@sas.root.<hub> for this hub")
	}
	p, sas, textKey, err := s.hub.VerifySAS(password)
	if err != nil {
		return amqpserver.Identity{}, err
	}
	if textKey {
		return amqpserver.Identity{}, fmt.Errorf("the signature does not match the keys of policy '%s'", p.Name)
	}
	if !strings.EqualFold(p.Name, policy) {
		return amqpserver.Identity{}, errors.New("the token is not signed by the policy in the user name")
	}
	if _, ok := s.hub.ResourcePath(sas.Resource); !ok {
		return amqpserver.Identity{}, errors.New("the token's resource (sr) does not name this hub")
	}
	return amqpserver.Identity{Mechanism: "PLAIN", Name: user, Rights: strings.Split(p.Rights.String(), ", "), Expires: sas.Expiry}, nil
}

// saslPlainDevice checks the device form of SASL PLAIN: user
// "<deviceId>@sas.<hub>" or "<deviceId>/<moduleId>@sas.<hub>", password a
// SAS token for that identity signed with one of its keys (or by a policy
// with DeviceConnect). It grants DeviceConnect over the identity until the
// token expires.
func (s *Service) saslPlainDevice(identity, hub, password string) (amqpserver.Identity, error) {
	if !strings.EqualFold(hub, s.hub.HubName()) {
		return amqpserver.Identity{}, errors.New("user name is not <deviceId>@sas.<hub> for this hub")
	}
	key := sessions.Key{DeviceID: identity}
	if d, m, ok := strings.Cut(identity, "/"); ok {
		key = sessions.Key{DeviceID: d, ModuleID: m}
	}
	if key.DeviceID == "" || strings.Contains(key.ModuleID, "/") {
		return amqpserver.Identity{}, errors.New("user name is not <deviceId>[/<moduleId>]@sas.<hub>")
	}
	expires, err := s.hub.CheckDeviceToken(key, password)
	if err != nil {
		return amqpserver.Identity{}, err
	}
	return amqpserver.Identity{Mechanism: "PLAIN", Name: core.IdentityName(key), Rights: []string{"DeviceConnect"}, Scope: core.IdentityPath(key), Expires: expires}, nil
}

// saslPlainKey checks the Event Hubs form of SASL PLAIN: user the policy's
// name, password one of its keys.
func (s *Service) saslPlainKey(user, password string) (amqpserver.Identity, error) {
	p, ok := s.hub.Policy(user)
	if !ok {
		return amqpserver.Identity{}, fmt.Errorf("no shared access policy is named '%s' (user names are <policy> with the policy's key, or <policy>@sas.root.<hub> with a SAS token)", user)
	}
	if !keyMatches(password, p.PrimaryKey) && !keyMatches(password, p.SecondaryKey) {
		return amqpserver.Identity{}, fmt.Errorf("the password is not a key of policy '%s'", p.Name)
	}
	return amqpserver.Identity{Mechanism: "PLAIN", Name: p.Name, Rights: strings.Split(p.Rights.String(), ", "), Scope: strings.ToLower(s.hub.HubName())}, nil
}

// keyMatches compares a presented key with a policy's in constant time.
func keyMatches(presented, key string) bool {
	return key != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(key)) == 1
}
