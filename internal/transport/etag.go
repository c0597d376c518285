package transport

import (
	"net/url"
	"strings"
)

// IfMatch returns the If-Match header value for etag: "*" for "*" or an
// empty etag (match anything), the etag as is when already quoted (or weak,
// W/"…"), and the etag in double quotes otherwise — the hub's bodies carry
// ETags without quotes, its headers with them.
func IfMatch(etag string) string {
	etag = strings.TrimSpace(etag)
	switch {
	case etag == "" || etag == "*":
		return "*"
	case strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`):
		return etag
	}
	return `"` + etag + `"`
}

// UnquoteETag strips the quotes (and weak prefix) an ETag header carries, to
// give the form the hub uses in bodies.
func UnquoteETag(etag string) string {
	etag = strings.TrimPrefix(strings.TrimSpace(etag), "W/")
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return etag
}

// PathEscape escapes one path segment (a device or module id), so that ids
// holding characters such as '#', '?', '%' or '/' reach the hub intact.
func PathEscape(segment string) string {
	return url.PathEscape(segment)
}
