package auth

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors, for [errors.Is]. The typed errors below unwrap to them.
var (
	// ErrTokenExpired reports that a fixed SAS token can no longer be used.
	// A [*TokenExpiredError] unwraps to it.
	ErrTokenExpired = errors.New("auth: token expired")
	// ErrAudienceMismatch reports that a fixed SAS token does not cover the
	// audience it was asked for. An [*AudienceError] unwraps to it.
	ErrAudienceMismatch = errors.New("auth: token does not cover the audience")
)

// ConnectionStringError reports a connection string that
// [ParseConnectionString] cannot use. It names the offending field but never
// holds the value of SharedAccessKey or SharedAccessSignature, so it is safe
// to log.
type ConnectionStringError struct {
	// Field is the canonical name of the field at fault ("SharedAccessKey"),
	// or, for a field whose name is not recognised, its position ("field 3").
	Field string
	// Problem says what is wrong with it, e.g. "is missing", "is not valid
	// base64".
	Problem string
	// Err is the underlying error, if any (a [*SASError] for a malformed
	// SharedAccessSignature).
	Err error
}

// Error implements error.
func (e *ConnectionStringError) Error() string {
	switch {
	case e.Field == "":
		return "auth: connection string " + e.Problem
	case strings.HasPrefix(e.Field, "field "): // a position: "field 3"
		return "auth: connection string " + e.Field + " " + e.Problem
	}
	return "auth: connection string field " + e.Field + " " + e.Problem
}

// Unwrap returns the underlying error, if any.
func (e *ConnectionStringError) Unwrap() error { return e.Err }

// SASError reports a shared access signature that [ParseSAS] cannot read, or
// an argument [SignSAS] cannot sign with. It never holds the signature or the
// key, so it is safe to log.
type SASError struct {
	// Field is the token field at fault ("sr", "sig", "se", "skn"), its
	// position for a field with an unknown name ("field 4"), or the
	// [SignSAS] argument at fault ("resource", "key", "expiry").
	Field string
	// Problem says what is wrong with it, e.g. "is missing".
	Problem string
}

// Error implements error.
func (e *SASError) Error() string {
	var b strings.Builder
	b.WriteString("auth: SAS token")
	if e.Field != "" {
		b.WriteString(" field ")
		b.WriteString(e.Field)
	}
	b.WriteByte(' ')
	b.WriteString(e.Problem)
	return b.String()
}

// TokenExpiredError is returned by [SASCredential.Token] once the fixed token
// has expired: the only cure is a new token (or a key to sign them with).
// It unwraps to [ErrTokenExpired].
type TokenExpiredError struct {
	// ExpiresOn is when the token expired.
	ExpiresOn time.Time
}

// Error implements error.
func (e *TokenExpiredError) Error() string {
	return "auth: SAS token expired at " + e.ExpiresOn.UTC().Format(time.RFC3339)
}

// Unwrap returns [ErrTokenExpired].
func (e *TokenExpiredError) Unwrap() error { return ErrTokenExpired }

// AudienceError is returned by [SASCredential.Token] when the audience asked
// for is not the token's resource nor under it: the hub would refuse the
// token. It unwraps to [ErrAudienceMismatch].
type AudienceError struct {
	// Audience is the audience asked for.
	Audience string
	// Resource is the token's resource (its sr field).
	Resource string
}

// Error implements error.
func (e *AudienceError) Error() string {
	return "auth: SAS token for resource " + strconv.Quote(e.Resource) + " does not cover audience " + strconv.Quote(e.Audience)
}

// Unwrap returns [ErrAudienceMismatch].
func (e *AudienceError) Unwrap() error { return ErrAudienceMismatch }
