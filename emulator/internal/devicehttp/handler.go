package devicehttp

import (
	"crypto/x509"
	"log/slog"
	"net/http"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/servicerest"
)

// Options configure a Handler. A nil *Options accepts the defaults.
type Options struct {
	// Files serves the file upload endpoints. Default: nil, a hub with no
	// linked storage account (the endpoints answer errFileUploadNotConfigured).
	Files FileUploads
	// Logger receives a debug line per request (never its Authorization
	// header). Default: discard.
	Logger *slog.Logger
	// PeerCertificates returns the TLS client certificates of a request,
	// for X.509 devices. Default: r.TLS.PeerCertificates, which is empty
	// when the request did not come over a *tls.Conn the HTTP server knows.
	PeerCertificates func(r *http.Request) []*x509.Certificate
	// RawHeader returns the header block of a request as the client sent
	// it (request line and header lines), or nil, so that application
	// property names keep the case their iothub-app- headers had; Go's
	// HTTP server canonicalises header names. Default: nil (names are
	// lower-cased).
	RawHeader func(r *http.Request) []byte
}

// Handler serves the device HTTPS API over the hub core.
type Handler struct {
	hub    *core.Hub
	files  FileUploads
	logger *slog.Logger
	peers  func(r *http.Request) []*x509.Certificate
	// rawHeader is Options.RawHeader.
	rawHeader func(r *http.Request) []byte
}

// New returns the device HTTPS front end of hub. The hub's messaging must
// be open (core.Hub.OpenMessaging) before the first request.
func New(hub *core.Hub, opts *Options) *Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	h := &Handler{hub: hub, files: o.Files, logger: o.Logger, peers: o.PeerCertificates, rawHeader: o.RawHeader}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.peers == nil {
		h.peers = func(r *http.Request) []*x509.Certificate {
			if r.TLS == nil {
				return nil
			}
			return r.TLS.PeerCertificates
		}
	}
	return h
}

// ServeHTTP serves one request of the device API: the path and method,
// the api-version, the identity's credentials, then the operation; every
// error is answered in the hub's shape.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := h.hub.Now()
	err := h.serve(w, r)
	if err != nil {
		servicerest.WriteError(w, err)
	}
	// The Authorization header is never logged; error messages name no
	// secret.
	h.logger.Debug("emulator: device request", "method", r.Method, "path", r.URL.EscapedPath(), "error", err, "duration", h.hub.Now().Sub(at))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	rt, ok := parseRoute(r.URL.EscapedPath())
	if !ok {
		return &iothub.Error{StatusCode: http.StatusNotFound, Message: "The requested resource does not exist"}
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		return &iothub.Error{StatusCode: http.StatusMethodNotAllowed, Message: "The method " + r.Method + " is not allowed on this resource"}
	}
	if err := checkAPIVersion(r); err != nil {
		return err
	}
	if err := h.authenticate(r, rt.key); err != nil {
		return err
	}
	h.hub.Touch(rt.key)
	switch rt.op {
	case opSendEvents:
		return h.sendEvents(w, r, rt.key)
	case opReceive:
		return h.receive(w, rt.key)
	case opSettle, opAbandon:
		return h.settle(w, r, rt)
	case opFileStart:
		return h.startUpload(w, r, rt.key.DeviceID)
	default: // opFileComplete
		return h.completeUpload(w, r, rt)
	}
}

// deviceAPIVersions are the api-versions the device SDKs still send that
// the service REST API does not take (the C SDK's 2016-11-14 among them);
// the device API answers those shapes too.
var deviceAPIVersions = map[string]bool{
	"2016-02-03":         true,
	"2016-11-14":         true,
	"2017-06-30":         true,
	"2017-11-08-preview": true,
	"2018-04-01":         true,
}

// checkAPIVersion applies the service REST API's rule: api-version is
// required and must be one the emulator answers.
func checkAPIVersion(r *http.Request) error {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return iothub.NewError(iothub.CodeInvalidProtocolVersion, "The api-version query parameter is required")
	}
	if !servicerest.SupportedAPIVersion(v) && !deviceAPIVersions[v] {
		return iothub.NewError(iothub.CodeInvalidProtocolVersion, "api-version '"+v+"' is not supported by this emulator; use "+iothub.DefaultAPIVersion)
	}
	return nil
}

// timeFormat is how times go into headers: ISO 8601 in UTC, which the
// SDKs parse (the C# SDK with DateTime.TryParse).
const timeFormat = time.RFC3339Nano
