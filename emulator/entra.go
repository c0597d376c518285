package emulator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/golang-jwt/jwt/v5"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/cbs"
)

// entraAudience is the audience of Entra ID tokens for IoT Hub's service
// APIs: the resource of scope auth.EntraIDScope.
const entraAudience = "https://iothubs.azure.net"

// entraClockSkew is how far past exp (and before nbf) a token is still
// accepted. Issuer and verifier share one clock here, so it only absorbs
// the whole-second rounding of JWT times.
const entraClockSkew = 5 * time.Second

// maxEntraTokenBytes bounds the tokens the emulator parses.
const maxEntraTokenBytes = 16 << 10

// defaultEntraTokenLifetime is how long tokens of TokenCredential live; Entra
// ID's access tokens live 60 to 90 minutes.
const defaultEntraTokenLifetime = time.Hour

// entraAuthority is the emulator's Entra ID stand-in: it signs tokens with
// a key pair generated at Start and verifies them with its public half.
type entraAuthority struct {
	key    *ecdsa.PrivateKey
	keyID  string
	tenant string
	issuer string
}

func newEntraAuthority() (*entraAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator: Entra ID signing key: %w", err)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("emulator: Entra ID tenant id: %w", err)
	}
	tenant := uuidString(b[:16])
	return &entraAuthority{
		key:    key,
		keyID:  hex.EncodeToString(b[16:]),
		tenant: tenant,
		// .invalid never resolves: nobody mistakes these tokens for real ones.
		issuer: "https://sts.emulator.invalid/" + tenant + "/",
	}, nil
}

// uuidString formats 16 random bytes as a version 4 UUID.
func uuidString(b []byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// entraClaims are the claims of the emulator's tokens: those of an Entra
// ID v1 access token for an application, with the IoT Hub roles it holds.
type entraClaims struct {
	jwt.RegisteredClaims
	ObjectID string   `json:"oid,omitempty"`
	TenantID string   `json:"tid,omitempty"`
	IDType   string   `json:"idtyp,omitempty"`
	Roles    []string `json:"roles,omitempty"`
}

// mint signs a token for principal oid holding roles, issued at now and
// expiring after lifetime.
func (a *entraAuthority) mint(now time.Time, oid string, roles []string, lifetime time.Duration) (string, time.Time, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, err
	}
	now = now.Truncate(time.Second)
	exp := now.Add(lifetime).Truncate(time.Second)
	claims := entraClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   oid,
			Audience:  jwt.ClaimStrings{entraAudience},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti[:]),
		},
		ObjectID: oid,
		TenantID: a.tenant,
		IDType:   "app",
		Roles:    roles,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = a.keyID
	s, err := t.SignedString(a.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("emulator: signing an Entra ID token: %w", err)
	}
	return s, exp, nil
}

// entraGrant is what a verified token allows.
type entraGrant struct {
	principal string
	actions   dataActions
	expires   time.Time
}

// verify checks a token's algorithm, signature, issuer, audience and
// times. Its errors say what is wrong without quoting the token.
func (a *entraAuthority) verify(token string, now time.Time) (entraGrant, error) {
	if len(token) > maxEntraTokenBytes {
		return entraGrant{}, errors.New("the token is too long")
	}
	claims := &entraClaims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithAudience(entraAudience),
		jwt.WithIssuer(a.issuer),
		jwt.WithLeeway(entraClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if kid, ok := t.Header["kid"]; ok {
			if s, _ := kid.(string); s != a.keyID {
				return nil, errUnknownKey
			}
		}
		return &a.key.PublicKey, nil
	})
	if err != nil {
		return entraGrant{}, entraProblem(err, claims)
	}
	principal := claims.ObjectID
	if principal == "" {
		principal = claims.Subject
	}
	return entraGrant{principal: principal, actions: rolesActions(claims.Roles), expires: claims.ExpiresAt.Time}, nil
}

var errUnknownKey = errors.New("unknown signing key")

// entraProblem describes why a token was refused.
func entraProblem(err error, claims *entraClaims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("the token is not a well-formed JWT")
	case errors.Is(err, errUnknownKey), errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return errors.New("the token's signature does not verify with this emulator's signing key (alg ES256)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.ExpiresAt == nil:
		return errors.New("the token has no expiry (exp)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errors.New("the token has no audience (aud); it must be " + entraAudience)
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errors.New("the token is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errors.New("the token was issued in the future (iat)")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errors.New("the token's audience is not " + entraAudience)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errors.New("the token was not issued by this emulator")
	}
	return errors.New("the token is invalid")
}

// verifyBearer checks a REST request's bearer token and returns the data
// actions it grants.
func (e *Emulator) verifyBearer(_ context.Context, token string) (dataActions, error) {
	g, err := e.entra.verify(token, e.now())
	if err != nil {
		return 0, err
	}
	return g.actions, nil
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
func cbsRights(a dataActions) cbs.Rights {
	var r cbs.Rights
	if a&actC2DSend != 0 {
		r |= cbsC2DSend
	}
	if a&actC2DFeedback != 0 {
		r |= cbsC2DFeedback
	}
	if a&actFileUploadNotifications != 0 {
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
	var b [16]byte
	_, _ = rand.Read(b[:])
	return &entraCredential{e: e, roles: append([]string(nil), roles...), lifetime: lifetime, objectID: uuidString(b[:])}
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
		if _, ok := roleActions(r); !ok {
			return azcore.AccessToken{}, fmt.Errorf("emulator: %q is neither an IoT Hub built-in role (%s, %s, %s, %s) nor an IoT Hub data action pattern (Microsoft.Devices/IotHubs/…)",
				r, RoleDataContributor, RoleDataReader, RoleRegistryContributor, RoleTwinContributor)
		}
	}
	tok, exp, err := c.e.entra.mint(c.e.now(), c.objectID, c.roles, c.lifetime)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: exp}, nil
}

// String describes the credential without any token.
func (c *entraCredential) String() string {
	return fmt.Sprintf("emulator.TokenCredential{Roles: %q, Lifetime: %s}", c.roles, c.lifetime)
}
