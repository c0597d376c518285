package entra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audience is the audience of Entra ID tokens for IoT Hub's service APIs:
// the resource of the scope https://iothubs.azure.net/.default.
const Audience = "https://iothubs.azure.net"

// clockSkew is how far past exp (and before nbf) a token is still
// accepted. Issuer and verifier share one clock here, so it only absorbs
// the whole-second rounding of JWT times.
const clockSkew = 5 * time.Second

// maxTokenBytes bounds the tokens the authority parses.
const maxTokenBytes = 16 << 10

// Authority is the emulator's Entra ID stand-in: it signs tokens with a key
// pair generated when it is made and verifies them with its public half.
type Authority struct {
	key    *ecdsa.PrivateKey
	keyID  string
	tenant string
	issuer string
}

// NewAuthority returns an authority with a new signing key and tenant.
func NewAuthority() (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("emulator: Entra ID signing key: %w", err)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("emulator: Entra ID tenant id: %w", err)
	}
	tenant := uuidString(b[:16])
	return &Authority{
		key:    key,
		keyID:  hex.EncodeToString(b[16:]),
		tenant: tenant,
		// .invalid never resolves: nobody mistakes these tokens for real ones.
		issuer: "https://sts.emulator.invalid/" + tenant + "/",
	}, nil
}

// NewObjectID returns a random object id for a principal, a version 4
// UUID.
func NewObjectID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return uuidString(b[:])
}

// uuidString formats 16 random bytes as a version 4 UUID.
func uuidString(b []byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Issuer returns the issuer (iss) of the authority's tokens.
func (a *Authority) Issuer() string { return a.issuer }

// claims are the claims of the authority's tokens: those of an Entra ID v1
// access token for an application, with the IoT Hub roles it holds.
type claims struct {
	jwt.RegisteredClaims
	ObjectID string   `json:"oid,omitempty"`
	TenantID string   `json:"tid,omitempty"`
	IDType   string   `json:"idtyp,omitempty"`
	Roles    []string `json:"roles,omitempty"`
}

// Mint signs a token for principal oid holding roles, issued at now and
// expiring after lifetime; it returns the token and its expiry.
func (a *Authority) Mint(now time.Time, oid string, roles []string, lifetime time.Duration) (string, time.Time, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, err
	}
	now = now.Truncate(time.Second)
	exp := now.Add(lifetime).Truncate(time.Second)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   oid,
			Audience:  jwt.ClaimStrings{Audience},
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
	s, err := a.Sign(c)
	if err != nil {
		return "", time.Time{}, err
	}
	return s, exp, nil
}

// Sign signs any claims with the authority's key (ES256, with its key id):
// Mint's tokens, and the forged ones of tests that check what Verify
// refuses.
func (a *Authority) Sign(c jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = a.keyID
	s, err := t.SignedString(a.key)
	if err != nil {
		return "", fmt.Errorf("emulator: signing an Entra ID token: %w", err)
	}
	return s, nil
}

// Grant is what a verified token allows.
type Grant struct {
	// Principal is the token's object id (oid), or its subject.
	Principal string
	// Actions are the data actions of the token's roles.
	Actions DataActions
	// Expires is the token's expiry.
	Expires time.Time
}

// Verify checks a token's algorithm, signature, issuer, audience and
// times at now. Its errors say what is wrong without quoting the token.
func (a *Authority) Verify(token string, now time.Time) (Grant, error) {
	if len(token) > maxTokenBytes {
		return Grant{}, errors.New("the token is too long")
	}
	c := &claims{}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithAudience(Audience),
		jwt.WithIssuer(a.issuer),
		jwt.WithLeeway(clockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := parser.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		if kid, ok := t.Header["kid"]; ok {
			if s, _ := kid.(string); s != a.keyID {
				return nil, errUnknownKey
			}
		}
		return &a.key.PublicKey, nil
	})
	if err != nil {
		return Grant{}, problem(err, c)
	}
	principal := c.ObjectID
	if principal == "" {
		principal = c.Subject
	}
	return Grant{Principal: principal, Actions: rolesActions(c.Roles), Expires: c.ExpiresAt.Time}, nil
}

var errUnknownKey = errors.New("unknown signing key")

// problem describes why a token was refused.
func problem(err error, c *claims) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("the token is not a well-formed JWT")
	case errors.Is(err, errUnknownKey), errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return errors.New("the token's signature does not verify with this emulator's signing key (alg ES256)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.ExpiresAt == nil:
		return errors.New("the token has no expiry (exp)")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errors.New("the token has no audience (aud); it must be " + Audience)
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errors.New("the token is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errors.New("the token was issued in the future (iat)")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errors.New("the token's audience is not " + Audience)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errors.New("the token was not issued by this emulator")
	}
	return errors.New("the token is invalid")
}
