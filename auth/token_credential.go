package auth

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// EntraIDScope is the scope of Microsoft Entra ID tokens for IoT Hub's
// service APIs.
const EntraIDScope = "https://iothubs.azure.net/.default"

// tokenRefreshMargin is how long before expiry a cached Entra ID token is
// replaced, when the token does not suggest a refresh time itself.
const tokenRefreshMargin = 5 * time.Minute

// TokenCredential adapts an [azcore.TokenCredential] (any azidentity
// credential: DefaultAzureCredential, a managed identity, a service
// principal…) to [Credential], for hubs that accept Microsoft Entra ID.
//
// It asks for tokens with scope [EntraIDScope], whatever the audience, and
// caches the last one until its RefreshOn, or until 5 minutes before its
// expiry when the token has no RefreshOn. Concurrent callers wait for one
// request when there is no valid token. If a refresh fails while the cached token is still valid, Token
// returns the cached token, so that a brief identity outage does not fail
// requests. It is safe for concurrent use.
type TokenCredential struct {
	cred azcore.TokenCredential
	now  func() time.Time

	// cached is the last token; read without locking.
	cached atomic.Pointer[cachedToken]
	// sem is a one-slot semaphore rather than a mutex so that a caller
	// waiting for another's refresh can give up when its ctx is done.
	sem chan struct{}
}

// NewTokenCredential returns a [Credential] that gets Entra ID tokens from
// cred. cred must not be nil.
func NewTokenCredential(cred azcore.TokenCredential) *TokenCredential {
	return &TokenCredential{cred: cred, now: time.Now, sem: make(chan struct{}, 1)}
}

var errNilTokenCredential = errors.New("auth: TokenCredential has a nil azcore.TokenCredential")

// Token returns an Entra ID access token of [TokenTypeJWT] for
// [EntraIDScope]; the audience is ignored, since the scope is the same for
// every hub. Errors of the underlying credential are returned wrapped.
//
// While one caller refreshes a token that is due for refresh but still
// valid, the others get the current token rather than wait.
func (c *TokenCredential) Token(ctx context.Context, audience string) (AccessToken, error) {
	if c.cred == nil {
		return AccessToken{}, errNilTokenCredential
	}
	t := c.cached.Load()
	if t != nil {
		now := c.now()
		if now.Before(t.renewOn) {
			return t.token, nil
		}
		if now.Before(t.token.ExpiresOn) {
			select {
			case c.sem <- struct{}{}:
				defer func() { <-c.sem }()
				return c.refresh(ctx)
			default:
				return t.token, nil // another caller is refreshing
			}
		}
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return AccessToken{}, ctx.Err()
	}
	defer func() { <-c.sem }()
	return c.refresh(ctx)
}

// refresh gets a new token unless another caller just did. c.sem must be
// held.
func (c *TokenCredential) refresh(ctx context.Context) (AccessToken, error) {
	now := c.now()
	old := c.cached.Load()
	if old != nil && now.Before(old.renewOn) {
		return old.token, nil
	}
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{EntraIDScope}})
	if err != nil {
		if old != nil && now.Before(old.token.ExpiresOn) {
			return old.token, nil
		}
		return AccessToken{}, fmt.Errorf("auth: getting an Entra ID token: %w", err)
	}
	t := &cachedToken{
		token:   AccessToken{Value: NewSecret(tok.Token), Type: TokenTypeJWT, ExpiresOn: tok.ExpiresOn},
		renewOn: refreshTime(now, tok.ExpiresOn, tok.RefreshOn),
	}
	c.cached.Store(t)
	return t.token, nil
}

// refreshTime is when a token got at now should be replaced: its RefreshOn
// if set, else 5 minutes before expiry, or halfway for a token that lives
// less than twice that.
func refreshTime(now, expiresOn, refreshOn time.Time) time.Time {
	if !refreshOn.IsZero() && refreshOn.Before(expiresOn) {
		return refreshOn
	}
	if expiresOn.Sub(now) > 2*tokenRefreshMargin {
		return expiresOn.Add(-tokenRefreshMargin)
	}
	return now.Add(expiresOn.Sub(now) / 2)
}

// String describes the credential; it never holds a token.
func (c *TokenCredential) String() string {
	return fmt.Sprintf("TokenCredential{Scope: %s, Credential: %T}", EntraIDScope, c.cred)
}

// Format implements [fmt.Formatter] so that every verb, %#v and %+v
// included, prints [TokenCredential.String] and never the cached token.
func (c *TokenCredential) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(c.String()))
}
