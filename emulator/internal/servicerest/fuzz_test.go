package servicerest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/core"
)

// FuzzServeHTTP sends arbitrary methods, paths and bodies, authorized, to
// the REST handler: it must never panic and must always answer JSON.
func FuzzServeHTTP(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"PUT", "/devices/d1", `{"deviceId":"d1"}`},
		{"PATCH", "/twins/d1", `{"tags":{"a":1}}`},
		{"POST", "/devices", `[{"id":"x","importMode":"create"}]`},
		{"PUT", "/devices/d1/modules/m%231", `{}`},
		{"GET", "/devices/%zz", ``},
		{"PUT", "/twins/d1/modules/m1", `{"properties":{"desired":null}}`},
	} {
		f.Add(s.method, s.path, s.body)
	}
	h, hub := newHandler(f, []core.Seed{{DeviceID: "d1", Modules: []string{"m1"}}}, nil)
	owner := hub.Policies()[0]
	token, err := auth.SignSAS(testHost, owner.Name, owner.PrimaryKey, time.Now().Add(24*time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?# \r\n\t") {
			return
		}
		req, err := http.NewRequest(method, "http://"+testHost+path+"?api-version=2021-04-12", strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s answered %d with content type %q", method, path, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}
