package emulator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/iotkit-go/iothub/auth"
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

// verifyJWT checks an Entra ID token put on the AMQP side's $cbs.
func (e *Emulator) verifyJWT(token string) (entra.Grant, error) {
	return e.entra.Verify(token, e.hub.Now())
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
