package auth

import (
	"context"
	"time"
)

// Token types, as carried in [AccessToken.Type] and in AMQP CBS put-token
// requests.
const (
	TokenTypeSAS = "servicebus.windows.net:sastoken"
	TokenTypeJWT = "jwt"
)

// AccessToken is a token that authorises requests to the hub.
type AccessToken struct {
	// Value is the token: a full "SharedAccessSignature sr=…" string for SAS,
	// the bare JWT for Entra ID.
	Value Secret
	// Type is [TokenTypeSAS] or [TokenTypeJWT].
	Type string
	// ExpiresOn is when the hub stops accepting the token.
	ExpiresOn time.Time
}

// Credential hands out tokens for an audience: the resource URI of a SAS
// token (the hub's host name, say), ignored by Entra ID credentials, whose
// scope is fixed. Implementations are safe for concurrent use and cache
// their tokens.
type Credential interface {
	Token(ctx context.Context, audience string) (AccessToken, error)
}

// Compile-time checks that the credentials of this package are Credentials.
var (
	_ Credential = (*SharedAccessKeyCredential)(nil)
	_ Credential = (*SASCredential)(nil)
	_ Credential = (*TokenCredential)(nil)
)

// AuthorizationHeader returns the value of the HTTP Authorization header for
// tok: the SAS token as is ("SharedAccessSignature sr=…"), or "Bearer <jwt>"
// for a token of [TokenTypeJWT].
func AuthorizationHeader(tok AccessToken) string {
	if tok.Type == TokenTypeJWT {
		return "Bearer " + tok.Value.Reveal()
	}
	return tok.Value.Reveal()
}
