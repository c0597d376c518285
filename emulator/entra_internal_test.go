package emulator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/go-amqp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/cbs"
)

// TestRoleActions pins the data actions of each built-in role to Azure's
// definitions: Data Contributor holds all 19, Data Reader the 5 reads and
// file notifications.
func TestRoleActions(t *testing.T) {
	all := dataActions(1<<len(dataActionNames) - 1)
	reads := actDevicesRead | actTwinsRead | actJobsRead | actStatisticsRead | actConfigurationsRead
	for _, tc := range []struct {
		role string
		want dataActions
	}{
		{RoleDataContributor, all},
		{"iot hub data contributor", all},
		{RoleDataReader, reads | actFileUploadNotifications},
		{RoleRegistryContributor, actDevicesRead | actDevicesWrite | actDevicesDelete},
		{RoleTwinContributor, actTwinsRead | actTwinsWrite},
		{"494BDBA2-168F-4F31-A0A1-191D2F7C028C", actTwinsRead | actTwinsWrite},
		{"Microsoft.Devices/IotHubs/cloudToDeviceMessages/*", actC2DSend | actC2DFeedback | actC2DPurge},
		{"microsoft.devices/iothubs/*/action", actC2DSend | actC2DFeedback | actC2DPurge | actDirectMethodsInvoke | actFileUploadNotifications | actConfigurationsApplyToEdgeDevice | actConfigurationsTestQueries},
		{"Microsoft.Devices/IotHubs/devices/read", actDevicesRead},
	} {
		got, ok := roleActions(tc.role)
		assert.True(t, ok, tc.role)
		assert.Equal(t, tc.want, got, "%s: %s", tc.role, got)
	}
	for _, role := range []string{"", "IoT Hub Service Contributor", "Contributor", "Microsoft.Devices/IotHubs/", "Microsoft.Devices/IotHubs/none", "Microsoft.EventHub/namespaces/*"} {
		_, ok := roleActions(role)
		assert.False(t, ok, role)
	}
	assert.Equal(t, 19, len(dataActionNames))
	assert.Equal(t, "none", dataActions(0).String())
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

func TestServiceLinkNeed(t *testing.T) {
	assert.Equal(t, cbs.ServiceConnect|cbsC2DSend, serviceLinkNeed("/messages/devicebound"))
	assert.Equal(t, cbs.ServiceConnect|cbsC2DSend, serviceLinkNeed("amqps://h:1/messages/devicebound"))
	assert.Equal(t, cbs.ServiceConnect|cbsC2DFeedback, serviceLinkNeed("/messages/serviceBound/feedback"))
	assert.Equal(t, cbs.ServiceConnect|cbsFileNotifications, serviceLinkNeed("messages/servicebound/filenotifications/"))
	assert.Equal(t, cbs.ServiceConnect, serviceLinkNeed("hub/ConsumerGroups/$Default/Partitions/0"))
	assert.Zero(t, cbsRights(actDevicesRead|actTwinsWrite|actDirectMethodsInvoke)&(cbs.RegistryRead|cbs.RegistryWrite|cbs.ServiceConnect|cbs.DeviceConnect))
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
	a, err := newEntraAuthority()
	require.NoError(t, err)
	now := time.Now()
	claims := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{
			"aud": entraAudience, "iss": a.issuer, "oid": "principal-1", "sub": "principal-1",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"roles": []string{RoleTwinContributor, "Unknown Role"},
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	good := signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(nil))
	g, err := a.verify(good, now)
	require.NoError(t, err)
	assert.Equal(t, "principal-1", g.principal)
	assert.Equal(t, actTwinsRead|actTwinsWrite, g.actions)
	assert.Equal(t, now.Add(time.Hour).Unix(), g.expires.Unix())

	noKid := signed(t, jwt.SigningMethodES256, a.key, "", claims(func(c jwt.MapClaims) { delete(c, "oid") }))
	g, err = a.verify(noKid, now)
	require.NoError(t, err, "kid is optional")
	assert.Equal(t, "principal-1", g.principal, "sub when there is no oid")

	_, err = a.verify(signed(t, jwt.SigningMethodES256, a.key, a.keyID, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Second).Unix() })), now)
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
		"too long":           {good + strings.Repeat("A", maxEntraTokenBytes), "too long"},
	} {
		_, err := a.verify(tc.token, now)
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
	a, err := newEntraAuthority()
	require.NoError(f, err)
	now := time.Now()
	good, _, err := a.mint(now, "principal", []string{RoleDataReader}, time.Hour)
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
		g, err := a.verify(token, now)
		if err == nil {
			// Only a token the authority signed verifies: the fuzzer cannot
			// forge an ES256 signature, so an accepted token is the seed.
			assert.Equal(t, "principal", g.principal)
		} else if strings.Contains(err.Error(), "eyJ") {
			t.Fatalf("the error quotes the token: %v", err)
		}
	})
}

// TestEntraCannotOpenEventHubEndpoint: as on IoT Hub, the built-in Event
// Hub-compatible endpoint takes shared access policies only; a jwt
// put-token is accepted by $cbs but opens no partition and no $management.
func TestEntraCannotOpenEventHubEndpoint(t *testing.T) {
	e, err := Start(context.Background(), nil)
	require.NoError(t, err)
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)

	tok, err := e.TokenCredential(RoleDataContributor).GetToken(ctx, scopeOptions())
	require.NoError(t, err)
	code, desc := putToken(ctx, t, sess, auth.TokenTypeJWT, tok.Token, "amqps://"+e.HostName()+"/"+e.HubName())
	require.Equal(t, int32(200), code, desc)

	for _, addr := range []string{e.HubName() + "/ConsumerGroups/$Default/Partitions/0"} {
		r, err := sess.NewReceiver(ctx, addr, nil)
		if err == nil {
			_, err = r.Receive(ctx, nil)
		}
		var ae *amqp.Error
		require.ErrorAs(t, err, &ae, addr)
		assert.Equal(t, amqp.ErrCondUnauthorizedAccess, ae.Condition, addr)
	}

	code, desc = putToken(ctx, t, sess, auth.TokenTypeJWT, tamperPayload(tok.Token), "amqps://"+e.HostName()+"/messages/devicebound")
	assert.Equal(t, int32(401), code)
	assert.Contains(t, desc, "signature")
	code, _ = putToken(ctx, t, sess, "bogus", tok.Token, "amqps://"+e.HostName()+"/messages/devicebound")
	assert.Equal(t, int32(401), code)
}

// putToken sends one CBS put-token and returns the status code and
// description of the answer.
func putToken(ctx context.Context, t *testing.T, sess *amqp.Session, tokenType, token, audience string) (int32, string) {
	t.Helper()
	const replyTo = "cbs-reply"
	sender, err := sess.NewSender(ctx, "$cbs", nil)
	require.NoError(t, err)
	defer sender.Close(ctx)
	receiver, err := sess.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: replyTo})
	require.NoError(t, err)
	defer receiver.Close(ctx)
	msg := &amqp.Message{
		Value:                 token,
		Properties:            &amqp.MessageProperties{MessageID: "1", ReplyTo: ptr(replyTo)},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": tokenType, "name": audience},
	}
	require.NoError(t, sender.Send(ctx, msg, nil))
	resp, err := receiver.Receive(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, receiver.AcceptMessage(ctx, resp))
	code, ok := resp.ApplicationProperties["status-code"].(int32)
	if !ok {
		t.Fatalf("status-code %T", resp.ApplicationProperties["status-code"])
	}
	desc, _ := resp.ApplicationProperties["status-description"].(string)
	return code, desc
}

func ptr[T any](v T) *T { return &v }

func scopeOptions() policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{auth.EntraIDScope}}
}

// TestCBSEventHubsStyleSignature: the Event Hubs SDKs sign with the key's
// text rather than its base64-decoded bytes; the emulator takes such a
// token for the Event Hub-compatible entity only, as Azure does.
func TestCBSEventHubsStyleSignature(t *testing.T) {
	e, err := Start(context.Background(), nil)
	require.NoError(t, err)
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)

	p, _ := e.policy("iothubowner")
	textKeySAS := func(uri, key string) string {
		sr := strings.ToLower(url.QueryEscape(uri))
		se := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(sr + "\n" + se))
		sig := url.QueryEscape(base64.StdEncoding.EncodeToString(h.Sum(nil)))
		return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + p.Name
	}
	entity := "amqp://" + e.HostName() + "/" + e.HubName()
	for name, tc := range map[string]struct {
		token, audience string
		want            int32
	}{
		"entity, primary key":    {textKeySAS(entity, p.PrimaryKey), entity, 200},
		"entity, secondary key":  {textKeySAS(entity, p.SecondaryKey), entity, 200},
		"entity, wrong key":      {textKeySAS(entity, "c2VjcmV0"), entity, 401},
		"IoT Hub's own endpoint": {textKeySAS("amqp://"+e.HostName()+"/messages/devicebound", p.PrimaryKey), "amqp://" + e.HostName() + "/messages/devicebound", 401},
		"whole hub":              {textKeySAS(e.HostName(), p.PrimaryKey), e.HostName(), 401},
	} {
		code, desc := putToken(ctx, t, sess, auth.TokenTypeSAS, tc.token, tc.audience)
		assert.Equal(t, tc.want, code, "%s: %s", name, desc)
	}
}

// TestEntraBearerForgedREST sends tokens signed with the emulator's own key
// but wrong claims through ServeHTTP: each is a 401 IotHubUnauthorizedAccess.
func TestEntraBearerForgedREST(t *testing.T) {
	e, err := Start(context.Background(), &Options{Devices: []DeviceSeed{{DeviceID: "dev1"}}})
	require.NoError(t, err)
	defer e.Close()
	now := time.Now()
	claims := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": entraAudience, "iss": e.entra.issuer, "oid": "p", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "roles": []string{RoleDataContributor}}
		edit(c)
		return c
	}
	call := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/devices/dev1?api-version=2021-04-12", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		return w
	}
	require.Equal(t, http.StatusOK, call(signed(t, jwt.SigningMethodES256, e.entra.key, e.entra.keyID, claims(func(jwt.MapClaims) {}))).Code)
	for name, edit := range map[string]func(c jwt.MapClaims){
		"wrong audience": func(c jwt.MapClaims) { c["aud"] = "https://storage.azure.com" },
		"wrong issuer":   func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/x/v2.0" },
		"expired":        func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() },
		"no roles":       func(c jwt.MapClaims) { delete(c, "roles") },
		"unknown role":   func(c jwt.MapClaims) { c["roles"] = []string{"IoT Hub Service Contributor"} },
	} {
		w := call(signed(t, jwt.SigningMethodES256, e.entra.key, e.entra.keyID, claims(edit)))
		assert.Equal(t, http.StatusUnauthorized, w.Code, name)
		assert.Contains(t, w.Body.String(), "ErrorCode:IotHubUnauthorizedAccess", name)
	}
}

// TestEntraCBSGrantExpires: a jwt grant ends at the token's exp; a link it
// authorised is detached with amqp:unauthorized-access when no new token
// comes.
func TestEntraCBSGrantExpires(t *testing.T) {
	t.Parallel()
	e, err := Start(context.Background(), nil)
	require.NoError(t, err)
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)

	tok, err := e.TokenCredentialWithLifetime(2*time.Second, RoleDataReader).GetToken(ctx, scopeOptions())
	require.NoError(t, err)
	code, desc := putToken(ctx, t, sess, auth.TokenTypeJWT, tok.Token, "amqps://"+e.HostName()+"/messages/serviceBound/filenotifications")
	require.Equal(t, int32(200), code, desc)
	r, err := sess.NewReceiver(ctx, "/messages/serviceBound/filenotifications", nil)
	require.NoError(t, err, "Data Reader may receive file notifications")
	_, err = r.Receive(ctx, nil)
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, ae.Condition)
	assert.False(t, time.Now().Before(tok.ExpiresOn), "detached at the token's expiry, not before")
}
