package entra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoleActions pins the data actions of each built-in role to Azure's
// definitions: Data Contributor holds all 19, Data Reader the 5 reads and
// file notifications.
func TestRoleActions(t *testing.T) {
	all := DataActions(1<<len(dataActionNames) - 1)
	reads := DevicesRead | TwinsRead | JobsRead | StatisticsRead | ConfigurationsRead
	for _, tc := range []struct {
		role string
		want DataActions
	}{
		{RoleDataContributor, all},
		{"iot hub data contributor", all},
		{RoleDataReader, reads | FileUploadNotifications},
		{RoleRegistryContributor, DevicesRead | DevicesWrite | DevicesDelete},
		{RoleTwinContributor, TwinsRead | TwinsWrite},
		{"494BDBA2-168F-4F31-A0A1-191D2F7C028C", TwinsRead | TwinsWrite},
		{"Microsoft.Devices/IotHubs/cloudToDeviceMessages/*", C2DSend | C2DFeedback | C2DPurge},
		{"microsoft.devices/iothubs/*/action", C2DSend | C2DFeedback | C2DPurge | DirectMethodsInvoke | FileUploadNotifications | ConfigurationsApplyToEdgeDevice | ConfigurationsTestQueries},
		{"Microsoft.Devices/IotHubs/devices/read", DevicesRead},
	} {
		got, ok := RoleActions(tc.role)
		assert.True(t, ok, tc.role)
		assert.Equal(t, tc.want, got, "%s: %s", tc.role, got)
	}
	for _, role := range []string{"", "IoT Hub Service Contributor", "Contributor", "Microsoft.Devices/IotHubs/", "Microsoft.Devices/IotHubs/none", "Microsoft.EventHub/namespaces/*"} {
		_, ok := RoleActions(role)
		assert.False(t, ok, role)
	}
	assert.Equal(t, 19, len(dataActionNames))
	assert.Equal(t, "none", DataActions(0).String())
}

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"a/*", "a/b/c", true},
		{"a/*/read", "a/b/read", true},
		{"a/*/read", "a/b/write", false},
		{"a/*/read", "a/read", false},
		{"*", "", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"ab", "ab", true},
		{"ab", "abc", false},
		{"a*a", "a", false},
	} {
		assert.Equal(t, tc.want, wildcardMatch(tc.pattern, tc.s), "%q ~ %q", tc.pattern, tc.s)
	}
}

// signed signs claims with method and key, with header kid when not empty.
func signed(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func TestEntraVerify(t *testing.T) {
	a, err := NewAuthority()
	require.NoError(t, err)
	now := time.Now()
	claims := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"aud": Audience, "iss": a.issuer, "oid": "principal-1", "sub": "principal-1",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"roles": []string{RoleTwinContributor, "Unknown Role"},
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(nil))
	g, err := a.Verify(good, now)
	require.NoError(t, err)
	assert.Equal(t, "principal-1", g.Principal)
	assert.Equal(t, TwinsRead|TwinsWrite, g.Actions)
	assert.Equal(t, now.Add(time.Hour).Unix(), g.Expires.Unix())

	noKid := signed(t, jwt.SigningMethodES256, a.key, "", claims(func(c jwt.MapClaims) { delete(c, "oid") }))
	g, err = a.Verify(noKid, now)
	require.NoError(t, err, "kid is optional")
	assert.Equal(t, "principal-1", g.Principal, "sub when there is no oid")

	_, err = a.Verify(signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Second).Unix() })), now)
	assert.NoError(t, err, "within the clock skew")

	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&a.key.PublicKey)
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	for name, tc := range map[string]struct {
		token string
		want  string
	}{
		"wrong audience":     {signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { c["aud"] = "https://management.azure.com" })), "audience"},
		"no audience":        {signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { delete(c, "aud") })), "audience"},
		"wrong issuer":       {signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/x/" })), "issued"},
		"expired":            {signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired"},
		"no expiry":          {signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { delete(c, "exp") })), "no expiry"},
		"not yet valid":      {signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() })), "not valid yet"},
		"issued in future":   {signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() })), "future"},
		"other key":          {signed(t, jwt.SigningMethodES256, otherKey, a.keyID, claims(nil)), "signature"},
		"unknown kid":        {signed(t, jwt.SigningMethodES256, a.key, "0123", claims(nil)), "signature"},
		"kid not a string":   {strings.Replace(good, strings.Split(good, ".")[0], jwtSegment(t, `{"alg":"ES256","kid":7,"typ":"JWT"}`), 1), "signature"},
		"alg none":           {none, "signature"},
		"HS256 with the key": {signed(t, jwt.SigningMethodHS256, pub, a.keyID, claims(nil)), "signature"},
		"ES384":              {signed(t, jwt.SigningMethodES384, p384, a.keyID, claims(nil)), "signature"},
		"tampered":           {tamperPayload(good), ""},
		"two parts":          {strings.Join(strings.Split(good, ".")[:2], "."), "well-formed"},
		"empty":              {"", "well-formed"},
		"too long":           {good + strings.Repeat("A", maxTokenBytes), "too long"},
	} {
		_, err := a.Verify(tc.token, now)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
		assert.NotContains(t, err.Error(), "eyJ", name)
	}
}

func jwtSegment(t testing.TB, json string) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(json))
}

// tamperPayload changes one character of a token's payload.
func tamperPayload(tok string) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	p[10] ^= 1
	parts[1] = string(p)
	return strings.Join(parts, ".")
}

// FuzzVerifyJWT feeds arbitrary tokens to the verifier: it must never
// panic, and what it accepts must be a token it signed.
func FuzzVerifyJWT(f *testing.F) {
	a, err := NewAuthority()
	require.NoError(f, err)
	now := time.Now()
	good, _, err := a.Mint(now, "principal", []string{RoleDataReader}, time.Hour)
	require.NoError(f, err)
	for _, s := range []string{
		good, tamperPayload(good), "", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6W119.e30.AAAA",
		"eyJhbGciOiJFUzI1NiJ9.eyJleHAiOiJzb29uIiwiYXVkIjpbMSwyXX0.AAAA",
		strings.Split(good, ".")[0] + ".eyJyb2xlcyI6e319." + strings.Split(good, ".")[2],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		g, err := a.Verify(token, now)
		if err == nil {
			// Only a token the authority signed verifies: the fuzzer cannot
			// forge an ES256 signature, so an accepted token is the seed.
			assert.Equal(t, "principal", g.Principal)
		} else if strings.Contains(err.Error(), "eyJ") {
			t.Fatalf("the error quotes the token: %v", err)
		}
	})
}
