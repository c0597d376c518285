package devicehttp

import (
	"net/http"
	"net/textproto"
	"strings"
)

// headerNames returns how the client spelt the request's header names,
// canonical name to sent name, when the emulator can tell; nil otherwise.
func (h *Handler) headerNames(r *http.Request) func(canonical string) (string, bool) {
	if h.rawHeader == nil {
		return nil
	}
	block := h.rawHeader(r)
	if block == nil {
		return nil
	}
	names := sentNames(block, r.Header)
	return func(canonical string) (string, bool) {
		n, ok := names[canonical]
		return n, ok
	}
}

// sentNames reads a request's raw header block (request line, header
// lines, as the client sent them) and returns, for each header name in
// header, the spelling the client used. The block must be the one header
// was parsed from: a block that names a header header lacks, lacks one it
// holds, or gives another first value, is someone else's (a body's bytes
// that look like a request), and yields nothing.
func sentNames(block []byte, header http.Header) map[string]string {
	lines := strings.Split(strings.TrimRight(string(block), "\r\n"), "\n")
	if len(lines) < 1 {
		return nil
	}
	names := make(map[string]string, len(header))
	for _, line := range lines[1:] {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.TrimSpace(name) != name {
			return nil
		}
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if _, seen := names[canonical]; seen {
			continue
		}
		got, held := header[canonical]
		switch {
		case held && len(got) > 0 && got[0] == strings.TrimSpace(value):
			names[canonical] = name
		case !held && parserDrops[canonical]:
		default:
			return nil
		}
	}
	for canonical := range header {
		if _, ok := names[canonical]; !ok {
			return nil
		}
	}
	return names
}

// parserDrops are the headers Go's HTTP server takes out of
// Request.Header as it parses a request.
var parserDrops = map[string]bool{"Host": true, "Transfer-Encoding": true, "Trailer": true}
