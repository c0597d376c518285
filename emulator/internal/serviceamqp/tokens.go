package serviceamqp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/cbs"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

// verifyCBSToken checks a put-token token: a SAS signed with a policy key,
// unexpired, whose resource names this hub (by its host, its
// <hub>.azure-devices.net name, or the Event Hub-compatible endpoint on the
// same host); or an Entra ID token of this emulator, which covers the whole
// hub with the CBS rights of its roles' data actions until it expires.
func (s *Service) verifyCBSToken(tokenType, token string) (cbs.Grant, error) {
	switch tokenType {
	case auth.TokenTypeSAS:
	case auth.TokenTypeJWT:
		if s.opts.VerifyJWT == nil {
			return cbs.Grant{}, fmt.Errorf("token type %q is not accepted; use %s", tokenType, auth.TokenTypeSAS)
		}
		g, err := s.opts.VerifyJWT(token)
		if err != nil {
			return cbs.Grant{}, err
		}
		return cbs.Grant{Principal: "Entra ID principal " + g.Principal, Rights: cbsRights(g.Actions), Expires: g.Expires}, nil
	default:
		return cbs.Grant{}, fmt.Errorf("token type %q is not accepted; use %s or %s", tokenType, auth.TokenTypeSAS, auth.TokenTypeJWT)
	}
	if sas, err := auth.ParseSAS(token); err == nil && sas.KeyName == "" {
		return s.verifyDeviceToken(sas, token)
	}
	p, sas, textKey, err := s.hub.VerifySAS(token)
	if err != nil {
		return cbs.Grant{}, err
	}
	path, ok := s.hub.ResourcePath(sas.Resource)
	if !ok {
		return cbs.Grant{}, errors.New("the token's resource (sr) does not name this hub")
	}
	// The Event Hubs way of signing is good for the Event Hub-compatible
	// entity only, as on Azure, where that endpoint is an Event Hubs
	// namespace.
	if entity := strings.ToLower(s.hub.HubName()); textKey && path != entity && !strings.HasPrefix(path, entity+"/") {
		return cbs.Grant{}, fmt.Errorf("the signature does not match the keys of policy '%s'", p.Name)
	}
	return cbs.Grant{Principal: p.Name, Rights: cbs.Rights(p.Rights), Path: path, Expires: sas.Expiry}, nil
}

// verifyDeviceToken checks a token that names no policy: a device's (or
// module's) own, signed with one of its keys for
// {host}/devices/{id}[/modules/{mid}]. It grants DeviceConnect over that
// identity until it expires; the identity need not be enabled yet (the
// device links check that when they attach).
func (s *Service) verifyDeviceToken(sas *auth.SAS, token string) (cbs.Grant, error) {
	key, ok := core.ParseIdentityResource(sas.Resource)
	if !ok {
		return cbs.Grant{}, errors.New("a token without a policy name (skn) is a device's, and its resource (sr) must be {host}/devices/{id} or {host}/devices/{id}/modules/{mid}")
	}
	expires, err := s.hub.CheckDeviceToken(key, token)
	if err != nil {
		return cbs.Grant{}, err
	}
	return cbs.Grant{Principal: core.IdentityName(key), Rights: cbs.DeviceConnect, Path: core.IdentityPath(key), Expires: expires}, nil
}

// CBS rights of Entra ID grants. They sit above the four policy rights, so
// that a token's data actions never pass a check that needs a policy right
// (the built-in Event Hub-compatible endpoint, which IoT Hub serves to
// shared access policies only), and a policy never passes one of these.
const (
	cbsC2DSend cbs.Rights = 1 << (4 + iota)
	cbsC2DFeedback
	cbsFileNotifications
)

// cbsRights maps data actions onto the CBS rights of the AMQP links.
func cbsRights(a entra.DataActions) cbs.Rights {
	var r cbs.Rights
	if a&entra.C2DSend != 0 {
		r |= cbsC2DSend
	}
	if a&entra.C2DFeedback != 0 {
		r |= cbsC2DFeedback
	}
	if a&entra.FileUploadNotifications != 0 {
		r |= cbsFileNotifications
	}
	return r
}

// serviceLinkNeed returns what a link to one of the service's AMQP nodes
// needs: ServiceConnect from a policy, or the data action of that node
// from an Entra ID token.
func serviceLinkNeed(address string) cbs.Rights {
	a := strings.ToLower(address)
	for _, scheme := range []string{"amqps://", "amqp://"} {
		if rest, ok := strings.CutPrefix(a, scheme); ok {
			_, a, _ = strings.Cut(rest, "/")
			break
		}
	}
	switch strings.Trim(a, "/") {
	case "messages/devicebound":
		return cbs.ServiceConnect | cbsC2DSend
	case "messages/servicebound/feedback":
		return cbs.ServiceConnect | cbsC2DFeedback
	case "messages/servicebound/filenotifications":
		return cbs.ServiceConnect | cbsFileNotifications
	}
	return cbs.ServiceConnect
}
