package servicerest

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

// supportedAPIVersions are the api-version values the emulator answers.
// The REST shapes it serves are those of 2021-04-12, which the older
// versions listed here share for the operations emulated.
var supportedAPIVersions = map[string]bool{
	"2018-06-30":         true,
	"2019-03-30":         true,
	"2019-10-01":         true,
	"2020-03-13":         true,
	"2020-05-31-preview": true,
	"2020-06-30-preview": true,
	"2020-09-30":         true,
	"2021-04-12":         true,
}

// maxBodyBytes bounds request bodies (100 bulk entries with full twins fit).
const maxBodyBytes = 4 << 20

// Options configure a Handler: the hooks the emulator gives the REST front
// end. A nil *Options, and each nil hook, does without.
type Options struct {
	// Logger receives a debug line per request (never its Authorization
	// header). Default: discard.
	Logger *slog.Logger
	// Log is told of each request as it arrives, with its unescaped path;
	// the function it returns is told the status answered. Default: nil.
	Log func(method, path, query string, at time.Time) (answered func(status int))
	// Fault returns the fault injected for a request, or nil; it is asked
	// before anything else is checked. Default: nil (no faults).
	Fault func(method, path string) *Fault
	// Bearer checks a Microsoft Entra ID bearer token and returns the data
	// actions it grants. Default: nil (bearer tokens are refused).
	Bearer func(ctx context.Context, token string) (entra.DataActions, error)
}

// Handler serves the hub's REST API over the hub core.
type Handler struct {
	hub    *core.Hub
	logger *slog.Logger
	opts   Options
}

// New returns the REST front end of hub.
func New(hub *core.Hub, opts *Options) *Handler {
	h := &Handler{hub: hub}
	if opts != nil {
		h.opts = *opts
	}
	h.logger = h.opts.Logger
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	return h
}

// ServeHTTP serves one request of the REST API: the request log and
// injected faults first, then the path's escaping, the api-version, the
// route, the credentials, and the route's handler; every error is answered
// in the hub's shape.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	segments, pathErr := splitPath(r.URL)
	p, at := "/"+strings.Join(segments, "/"), h.hub.Now()
	var answered func(int)
	if h.opts.Log != nil {
		answered = h.opts.Log(r.Method, p, r.URL.RawQuery, at)
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		if answered != nil {
			answered(sw.status())
		}
		// The query may hold nothing secret, but the Authorization header
		// does: it is never logged.
		h.logger.Debug("emulator: request", "method", r.Method, "path", p, "status", sw.status(), "duration", h.hub.Now().Sub(at))
	}()

	if h.opts.Fault != nil {
		if f := h.opts.Fault(r.Method, p); f != nil && applyFault(r.Context(), sw, f) {
			return
		}
	}
	if pathErr != nil {
		writeError(sw, legacyForm, iothub.NewError(iothub.CodeArgumentInvalid, "The request path is not properly escaped"))
		return
	}
	if err := checkAPIVersion(r); err != nil {
		writeError(sw, legacyForm, err)
		return
	}
	rt, err := h.resolve(r.Method, segments)
	if err != nil {
		writeError(sw, legacyForm, err)
		return
	}
	if err := h.authorize(r, rt.need, rt.action); err != nil {
		writeError(sw, legacyForm, err)
		return
	}
	r.Body = http.MaxBytesReader(sw, r.Body, maxBodyBytes)
	if err := rt.serve(sw, r); err != nil {
		writeError(sw, rt.form, err)
	}
}

// splitPath returns the unescaped segments of the request path, so that
// ids holding '/', '#', '?' or '%' (escaped by the client) stay whole.
func splitPath(u *url.URL) ([]string, error) {
	p := strings.Trim(u.EscapedPath(), "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	var firstErr error
	for i, s := range parts {
		d, err := url.PathUnescape(s)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		parts[i] = d
	}
	return parts, firstErr
}

func checkAPIVersion(r *http.Request) error {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return iothub.NewError(iothub.CodeInvalidProtocolVersion, "The api-version query parameter is required")
	}
	if !supportedAPIVersions[v] {
		return iothub.NewError(iothub.CodeInvalidProtocolVersion, "api-version '"+v+"' is not supported by this emulator; use "+iothub.DefaultAPIVersion)
	}
	return nil
}

// statusWriter remembers the status of the answer, for the request log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
