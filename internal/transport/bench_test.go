package transport

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// twinBody is a twin as GET /twins/{id} answers it.
const twinBody = `{"deviceId":"d1","etag":"AAAAAAAAAAE=","deviceEtag":"NjQ2NTk0Mzk2","status":"enabled","statusUpdateTime":"0001-01-01T00:00:00Z","connectionState":"Disconnected","lastActivityTime":"0001-01-01T00:00:00Z","cloudToDeviceMessageCount":0,"authenticationType":"sas","x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null},"modelId":"","version":2,"tags":{"building":"43"},"properties":{"desired":{"interval":30,"$metadata":{"$lastUpdated":"2026-12-01T10:00:00.0000000Z","$lastUpdatedVersion":1},"$version":1},"reported":{"$metadata":{"$lastUpdated":"2026-12-01T10:00:00.0000000Z"},"$version":1}}}`

type benchTwin struct {
	DeviceID   string                     `json:"deviceId"`
	ETag       string                     `json:"etag"`
	Status     string                     `json:"status"`
	Version    int64                      `json:"version"`
	Tags       map[string]any             `json:"tags"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// BenchmarkGetRequest makes GET /twins/d1 against a server that answers a
// canned twin, through the Pipeline and through a bare net/http +
// encoding/json loop on the same client and server: the server's share is
// the same in both, so the difference in ns/op and allocs/op is the
// Pipeline's own (resty, headers, error handling).
func BenchmarkGetRequest(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, twinBody)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	p, err := New(Config{HostName: host, Credential: &staticCredential{}, PlainHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	hc := p.client.GetClient()
	ctx := context.Background()
	b.Run("pipeline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var tw benchTwin
			if _, err := p.Do(ctx, &Request{Method: http.MethodGet, Path: "/twins/d1", Retry: RetryIdempotent}, &tw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-net-http", func(b *testing.B) {
		b.ReportAllocs()
		cred := &staticCredential{}
		for b.Loop() {
			tok, _ := cred.Token(ctx, host)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/twins/d1?api-version=2021-04-12", nil)
			req.Header.Set("Authorization", tok.Value.Reveal())
			req.Header.Set("Accept", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatal(resp.Status, err)
			}
			var tw benchTwin
			if err := json.Unmarshal(body, &tw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
