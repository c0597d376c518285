package servicerest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

// TestEntraBearerForgedREST sends tokens signed with the emulator's own key
// but wrong claims through ServeHTTP: each is a 401 IotHubUnauthorizedAccess.
func TestEntraBearerForgedREST(t *testing.T) {
	authority, err := entra.NewAuthority()
	require.NoError(t, err)
	bearer := func(_ context.Context, token string) (entra.DataActions, error) {
		g, err := authority.Verify(token, time.Now())
		return g.Actions, err
	}
	h, _ := newHandler(t, []core.Seed{{DeviceID: "dev1"}}, &Options{Bearer: bearer})
	now := time.Now()
	claims := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": entra.Audience, "iss": authority.Issuer(), "oid": "p", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "roles": []string{entra.RoleDataContributor}}
		edit(c)
		return c
	}
	signed := func(c jwt.MapClaims) string {
		s, err := authority.Sign(c)
		require.NoError(t, err)
		return s
	}
	call := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/devices/dev1?api-version=2021-04-12", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	require.Equal(t, http.StatusOK, call(signed(claims(func(jwt.MapClaims) {}))).Code)
	for name, edit := range map[string]func(c jwt.MapClaims){
		"wrong audience": func(c jwt.MapClaims) { c["aud"] = "https://storage.azure.com" },
		"wrong issuer":   func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/x/v2.0" },
		"expired":        func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() },
		"no roles":       func(c jwt.MapClaims) { delete(c, "roles") },
		"unknown role":   func(c jwt.MapClaims) { c["roles"] = []string{"IoT Hub Service Contributor"} },
	} {
		w := call(signed(claims(edit)))
		assert.Equal(t, http.StatusUnauthorized, w.Code, name)
		assert.Contains(t, w.Body.String(), "ErrorCode:IotHubUnauthorizedAccess", name)
	}
}
