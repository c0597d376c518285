package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SASCredential hands out one fixed SAS token, such as the
// SharedAccessSignature of a connection string: whoever issued it holds the
// key. It is safe for concurrent use. Its String method, and every fmt verb,
// hide the signature.
type SASCredential struct {
	token    AccessToken
	sas      *SAS
	resource string // normalised, for audience checks
	now      func() time.Time
}

// NewSASCredential returns a credential for token, a SAS token as
// [ParseSAS] accepts it (with or without the "SharedAccessSignature "
// prefix). A token that does not parse is a [*SASError]; one that has
// already expired is accepted, and Token reports it.
func NewSASCredential(token string) (*SASCredential, error) {
	sas, err := ParseSAS(token)
	if err != nil {
		return nil, err
	}
	// The hub wants exactly "SharedAccessSignature " before the fields, in
	// the Authorization header and in CBS put-token alike.
	body := strings.TrimSpace(token)
	if hasPrefixFold(body, sasPrefix) {
		body = strings.TrimSpace(body[len(sasPrefix):])
	}
	value := sasPrefix + " " + body
	return &SASCredential{
		token:    AccessToken{Value: NewSecret(value), Type: TokenTypeSAS, ExpiresOn: sas.Expiry},
		sas:      sas,
		resource: normaliseResource(sas.Resource),
		now:      time.Now,
	}, nil
}

// Token returns the fixed token, unchanged, until it expires; from then on a
// [*TokenExpiredError] (errors.Is [ErrTokenExpired]).
//
// The audience is checked against the token's resource (sr), because the hub
// refuses a token for another resource with an opaque 401: an empty audience,
// the resource itself, or a URI under it ("hub/devices/d1" under "hub") is
// accepted; anything else is an [*AudienceError] (errors.Is
// [ErrAudienceMismatch]). The comparison ignores case, a "scheme://" prefix
// and trailing slashes.
func (c *SASCredential) Token(ctx context.Context, audience string) (AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return AccessToken{}, err
	}
	if c.sas.Expired(c.now()) {
		return AccessToken{}, &TokenExpiredError{ExpiresOn: c.sas.Expiry}
	}
	if audience != "" && !covers(c.resource, normaliseResource(audience)) {
		return AccessToken{}, &AudienceError{Audience: audience, Resource: c.sas.Resource}
	}
	return c.token, nil
}

// Resource returns the token's resource (sr).
func (c *SASCredential) Resource() string { return c.sas.Resource }

// ExpiresOn returns when the token expires.
func (c *SASCredential) ExpiresOn() time.Time { return c.sas.Expiry }

// String describes the credential without its signature.
func (c *SASCredential) String() string {
	return "SASCredential{" + c.sas.String() + "}"
}

// Format implements [fmt.Formatter] so that every verb, %#v and %+v
// included, prints [SASCredential.String] and never the signature.
func (c *SASCredential) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(c.String()))
}

// normaliseResource lower-cases r and strips a "scheme://" prefix and
// trailing slashes.
func normaliseResource(r string) string {
	if _, rest, ok := strings.Cut(r, "://"); ok {
		r = rest
	}
	return strings.ToLower(strings.TrimRight(r, "/"))
}

// covers reports whether a token for resource grants access to audience:
// the same URI or one below it, on a path segment boundary.
func covers(resource, audience string) bool {
	if !strings.HasPrefix(audience, resource) {
		return false
	}
	return len(audience) == len(resource) || audience[len(resource)] == '/'
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
