package devicehttp

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// operation is what a device API request asks for.
type operation int

const (
	opSendEvents operation = iota + 1
	opReceive
	opSettle  // DELETE …/deviceBound/{etag}: complete, or reject with ?reject
	opAbandon // POST …/deviceBound/{etag}/abandon
	opFileStart
	opFileComplete
)

// route is a parsed device API path.
type route struct {
	op     operation
	method string // the one method the path takes
	key    sessions.Key
	// lockToken is the {etag} of a settlement, as the path holds it.
	lockToken string
	// correlationID is the {correlationId} of …/files/notifications/{id}.
	correlationID string
}

// IsDevicePath reports whether an escaped request path is one of the
// device API's (see the package doc), whatever the method, so that the
// emulator sends it here rather than to the service REST API.
func IsDevicePath(escapedPath string) bool {
	_, ok := parseRoute(escapedPath)
	return ok
}

// parseRoute reads an escaped request path. Each segment is unescaped on
// its own, so that ids holding '/', '#', '?' or '%' (escaped by the
// client) stay whole; a segment that does not unescape fails the match.
func parseRoute(escapedPath string) (route, bool) {
	seg := strings.Split(strings.Trim(escapedPath, "/"), "/")
	for i, s := range seg {
		d, err := url.PathUnescape(s)
		if err != nil {
			return route{}, false
		}
		seg[i] = d
	}
	if len(seg) < 3 || !strings.EqualFold(seg[0], "devices") || seg[1] == "" {
		return route{}, false
	}
	rt := route{key: sessions.Key{DeviceID: seg[1]}}
	rest := seg[2:]
	if len(rest) >= 2 && strings.EqualFold(rest[0], "modules") && rest[1] != "" {
		rt.key.ModuleID = rest[1]
		rest = rest[2:]
	}
	word := func(i int, w string) bool { return i < len(rest) && strings.EqualFold(rest[i], w) }
	switch {
	case len(rest) == 2 && word(0, "messages") && word(1, "events"):
		rt.op, rt.method = opSendEvents, http.MethodPost
	case len(rest) == 2 && word(0, "messages") && word(1, "deviceBound"):
		rt.op, rt.method = opReceive, http.MethodGet
	case len(rest) == 3 && word(0, "messages") && word(1, "deviceBound") && rest[2] != "":
		rt.op, rt.method, rt.lockToken = opSettle, http.MethodDelete, rest[2]
	case len(rest) == 4 && word(0, "messages") && word(1, "deviceBound") && rest[2] != "" && word(3, "abandon"):
		rt.op, rt.method, rt.lockToken = opAbandon, http.MethodPost, rest[2]
	// File upload is a device's: modules have no files endpoints.
	case rt.key.ModuleID == "" && len(rest) == 1 && word(0, "files"):
		rt.op, rt.method = opFileStart, http.MethodPost
	case rt.key.ModuleID == "" && len(rest) == 2 && word(0, "files") && word(1, "notifications"):
		rt.op, rt.method = opFileComplete, http.MethodPost
	case rt.key.ModuleID == "" && len(rest) == 3 && word(0, "files") && word(1, "notifications") && rest[2] != "":
		rt.op, rt.method, rt.correlationID = opFileComplete, http.MethodPost, rest[2]
	default:
		return route{}, false
	}
	return rt, true
}
