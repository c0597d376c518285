package devicehttp

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzHeaderEvent: any header set becomes an event without panicking; an
// iothub-app- header is an application property named by what follows
// the prefix, and nothing else is.
func FuzzHeaderEvent(f *testing.F) {
	f.Add("iothub-app-alertType", "hot", "iothub-messageid", "m-1")
	f.Add("IoTHub-App-", "x", "iothub-creationtimeutc", "2026-01-01T00:00:00Z")
	f.Add("iothub-contenttype", "application/json", "Content-Type", "text/plain")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		h := http.Header{}
		h[n1] = []string{v1}
		h[n2] = []string{v2}
		ev := headerEvent(h, nil)
		for name := range ev.Properties {
			if name == creationTimeProperty {
				continue
			}
			found := false
			for _, n := range []string{n1, n2} {
				app, ok := strings.CutPrefix(strings.ToLower(n), appPropertyPrefix)
				found = found || ok && app == name
			}
			assert.True(t, found, "property %q comes from no iothub-app- header", name)
		}
	})
}

// FuzzParseLockToken: a token parses to a non-empty text with no quote,
// and a bare token parses to itself.
func FuzzParseLockToken(f *testing.F) {
	for _, s := range []string{`"0123abcd"`, "0123abcd", `W/"x"`, `""`, `"`, " \"a\" "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseLockToken(s)
		if err != nil {
			return
		}
		require.NotEmpty(t, tok)
		assert.NotContains(t, tok, `"`)
		again, err := parseLockToken(`"` + tok + `"`)
		require.NoError(t, err)
		assert.Equal(t, tok, again, "quoting a token does not change it")
	})
}

// FuzzDecodeBatch: any body either fails with the hub's error or yields
// one event per array element.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(`[{"body":"b25l","properties":{"iothub-app-k":"v","iothub-messageid":"m"}}]`)
	f.Add(`[{"body":"two","base64Encoded":false,"properties":{"iothub-app-n":4.5,"x":true,"y":null}}]`)
	f.Add(`[{"body":"eA=="},{"body":"eQ==","base64Encoded":true}]`)
	f.Add(`[] x`)
	f.Fuzz(func(t *testing.T, body string) {
		evs, err := decodeBatch([]byte(body))
		if err != nil {
			assert.Contains(t, err.Error(), "ArgumentInvalid")
			return
		}
		require.NotEmpty(t, evs)
		for _, ev := range evs {
			for k := range ev.Properties {
				assert.True(t, utf8.ValidString(k) || !utf8.ValidString(body))
			}
		}
	})
}

// FuzzSentNames: a raw header block either yields nothing or the spelling
// of exactly the headers the request holds, each canonicalising to its
// key.
func FuzzSentNames(f *testing.F) {
	f.Add("POST /devices/d1/messages/events HTTP/1.1\r\nHost: h\r\niothub-app-alertType: hot\r\n\r\n", "Iothub-App-Alerttype", "hot")
	f.Add("GET / HTTP/1.1\r\nA: 1\r\nA: 2\r\n\r\n", "A", "1")
	f.Fuzz(func(t *testing.T, block, key, value string) {
		h := http.Header{key: {value}}
		names := sentNames([]byte(block), h)
		if names == nil {
			return
		}
		require.Len(t, names, len(h))
		for canonical, sent := range names {
			assert.Equal(t, canonical, http.CanonicalHeaderKey(sent))
		}
	})
}
