package emulator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/cbs"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

// defaultEntraTokenLifetime is how long tokens of TokenCredential live; Entra
// ID's access tokens live 60 to 90 minutes.
const defaultEntraTokenLifetime = time.Hour

// verifyBearer checks a REST request's bearer token and returns the data
// actions it grants.
func (e *Emulator) verifyBearer(_ context.Context, token string) (entra.DataActions, error) {
	g, err := e.entra.Verify(token, e.hub.Now())
	if err != nil {
		return 0, err
	}
	return g.Actions, nil
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

// TokenCredential returns a credential that mints Microsoft Entra ID-style
// access tokens for this emulator, holding roles: the built-in roles
// [RoleDataContributor], [RoleDataReader], [RoleRegistryContributor] and
// [RoleTwinContributor] (by name or role definition id), or data action
// patterns of a custom role such as
// "Microsoft.Devices/IotHubs/cloudToDeviceMessages/*". Wrapped in
// auth.NewTokenCredential it authorises the SDK's clients as a service
// principal with those roles would be on a real hub: over REST (Bearer) and
// AMQP (CBS put-token of type jwt), each operation checked against the
// data action Azure requires for it. As on IoT Hub, Entra ID tokens do not
// open the built-in Event Hub-compatible endpoint.
//
// Its GetToken returns tokens that live an hour, for the scope
// "https://iothubs.azure.net/.default" only; it fails for any other scope
// and for a role it does not know. Tokens are signed (ES256) with a key
// generated at Start and are worthless to any other emulator.
func (e *Emulator) TokenCredential(roles ...string) azcore.TokenCredential {
	return e.TokenCredentialWithLifetime(defaultEntraTokenLifetime, roles...)
}

// TokenCredentialWithLifetime is [Emulator.TokenCredential] with tokens
// that live for lifetime; a lifetime of zero or less gives tokens that are
// already expired, for tests of what a client does with those.
func (e *Emulator) TokenCredentialWithLifetime(lifetime time.Duration, roles ...string) azcore.TokenCredential {
	return &entraCredential{e: e, roles: append([]string(nil), roles...), lifetime: lifetime, objectID: entra.NewObjectID()}
}

// entraCredential is the azcore.TokenCredential of TokenCredential: one
// service principal (a random object id) holding fixed roles.
type entraCredential struct {
	e        *Emulator
	roles    []string
	lifetime time.Duration
	objectID string
}

// GetToken mints a token for the emulator's IoT Hub scope.
func (c *entraCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return azcore.AccessToken{}, err
	}
	if len(opts.Scopes) != 1 || !strings.EqualFold(opts.Scopes[0], auth.EntraIDScope) {
		return azcore.AccessToken{}, fmt.Errorf("emulator: the emulator's token credential issues tokens for scope %s only, not %q", auth.EntraIDScope, opts.Scopes)
	}
	for _, r := range c.roles {
		if _, ok := entra.RoleActions(r); !ok {
			return azcore.AccessToken{}, fmt.Errorf("emulator: %q is neither an IoT Hub built-in role (%s, %s, %s, %s) nor an IoT Hub data action pattern (Microsoft.Devices/IotHubs/…)",
				r, RoleDataContributor, RoleDataReader, RoleRegistryContributor, RoleTwinContributor)
		}
	}
	tok, exp, err := c.e.entra.Mint(c.e.hub.Now(), c.objectID, c.roles, c.lifetime)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, nil
}

// String describes the credential without any token.
func (c *entraCredential) String() string {
	return fmt.Sprintf("emulator.TokenCredential{Roles: %q, Lifetime: %s}", c.roles, c.lifetime)
}
