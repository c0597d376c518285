package iothub

import (
	"crypto/tls"
	"log/slog"
	"net/http"
)

// DefaultAPIVersion is the version of the hub's REST API this SDK speaks.
const DefaultAPIVersion = "2021-04-12"

// ClientOptions configures the REST clients (registry, twin, methods, the
// HTTPS parts of c2d). A nil *ClientOptions accepts every default.
type ClientOptions struct {
	// HTTPClient sends the requests. Its Timeout, if set, must leave room for
	// direct-method calls, which may take up to ten minutes.
	// Default: a client of its own with sensible connection pooling.
	HTTPClient *http.Client
	// TLSConfig is used when HTTPClient is nil, for example to trust the
	// emulator's CA. Default: the system roots.
	TLSConfig *tls.Config
	// Logger receives debug records of each request and retry. Keys,
	// signatures and the Authorization header are never logged.
	// Default: nothing is logged.
	Logger *slog.Logger
	// Retry is the retry policy. Default: see [RetryOptions].
	Retry RetryOptions
	// UserAgent is put in front of the SDK's own User-Agent.
	// Default: the SDK's alone.
	UserAgent string
	// APIVersion is the REST API version. Default: [DefaultAPIVersion].
	APIVersion string
}
