package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSASCredentialToken(t *testing.T) {
	t.Parallel()
	expiry := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, err := SignSAS("myhub.azure-devices.net", "service", testKey, expiry)
	require.NoError(t, err)
	fields := strings.TrimPrefix(tok, "SharedAccessSignature ")

	for name, in := range map[string]string{
		"as signed":          tok,
		"without prefix":     fields,
		"with whitespace":    "\t" + tok + " ",
		"prefix in any case": "sharedAccessSignature   " + fields,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cred, err := NewSASCredential(in)
			require.NoError(t, err)
			cred.now = func() time.Time { return expiry.Add(-time.Second) }
			got, err := cred.Token(t.Context(), "myhub.azure-devices.net")
			require.NoError(t, err)
			assert.Equal(t, AccessToken{Value: NewSecret(tok), Type: TokenTypeSAS, ExpiresOn: expiry}, got)
			assert.Equal(t, "myhub.azure-devices.net", cred.Resource())
			assert.Equal(t, expiry, cred.ExpiresOn())
		})
	}
}

func TestSASCredentialExpired(t *testing.T) {
	t.Parallel()
	expiry := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, err := SignSAS("myhub.azure-devices.net", "service", testKey, expiry)
	require.NoError(t, err)
	cred, err := NewSASCredential(tok)
	require.NoError(t, err, "an expired token is accepted at construction")

	for _, now := range []time.Time{expiry, expiry.Add(time.Nanosecond), expiry.Add(24 * time.Hour)} {
		cred.now = func() time.Time { return now }
		got, err := cred.Token(t.Context(), "myhub.azure-devices.net")
		require.ErrorIs(t, err, ErrTokenExpired)
		var expired *TokenExpiredError
		require.ErrorAs(t, err, &expired)
		assert.Equal(t, expiry, expired.ExpiresOn)
		assert.Equal(t, "auth: SAS token expired at 2030-01-01T00:00:00Z", err.Error())
		assert.Empty(t, got.Value.Reveal())
	}

	// With the real clock, a token from 1970 is long expired.
	old, err := NewSASCredential("sr=hub&sig=c2ln&se=1")
	require.NoError(t, err)
	_, err = old.Token(t.Context(), "hub")
	require.ErrorIs(t, err, ErrTokenExpired)
}

func TestSASCredentialAudience(t *testing.T) {
	t.Parallel()
	tests := []struct {
		resource, audience string
		ok                 bool
	}{
		{"myhub.azure-devices.net", "", true},
		{"myhub.azure-devices.net", "myhub.azure-devices.net", true},
		{"myhub.azure-devices.net", "MyHub.Azure-Devices.NET", true},
		{"myhub.azure-devices.net", "myhub.azure-devices.net/", true},
		{"myhub.azure-devices.net", "myhub.azure-devices.net/devices/d1", true},
		{"myhub.azure-devices.net", "amqps://myhub.azure-devices.net/messages/devicebound", true},
		{"https://myhub.azure-devices.net/", "myhub.azure-devices.net", true},
		{"127.0.0.1:40123", "127.0.0.1:40123", true},
		{"myhub.azure-devices.net/devices/d1", "myhub.azure-devices.net/devices/d1/modules/m", true},
		{"myhub.azure-devices.net", "otherhub.azure-devices.net", false},
		{"myhub.azure-devices.net", "myhub.azure-devices.net.evil.com", false},
		{"myhub.azure-devices.net/devices/d1", "myhub.azure-devices.net", false},
		{"myhub.azure-devices.net/devices/d1", "myhub.azure-devices.net/devices/d10", false},
		{"127.0.0.1:40123", "127.0.0.1:40124", false},
	}
	for _, tt := range tests {
		t.Run(tt.resource+" for "+tt.audience, func(t *testing.T) {
			t.Parallel()
			tok, err := SignSAS(tt.resource, "service", testKey, time.Now().Add(time.Hour))
			require.NoError(t, err)
			cred, err := NewSASCredential(tok)
			require.NoError(t, err)
			got, err := cred.Token(t.Context(), tt.audience)
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, tok, got.Value.Reveal())
				return
			}
			require.ErrorIs(t, err, ErrAudienceMismatch)
			var audErr *AudienceError
			require.ErrorAs(t, err, &audErr)
			assert.Equal(t, tt.audience, audErr.Audience)
			assert.Equal(t, tt.resource, audErr.Resource)
			assert.NotContains(t, err.Error(), "sig=")
		})
	}
}

func TestSASCredentialErrors(t *testing.T) {
	t.Parallel()
	const sig = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
	for _, in := range []string{"", "garbage", "sr=hub&sig=" + sig, "sr=hub&se=100", "SharedAccessSignature sig=" + sig + "&se=100"} {
		cred, err := NewSASCredential(in)
		require.Error(t, err, in)
		assert.Nil(t, cred)
		var sasErr *SASError
		assert.ErrorAs(t, err, &sasErr)
		assert.NotContains(t, err.Error(), sig)
	}

	t.Run("done context", func(t *testing.T) {
		t.Parallel()
		cred, err := NewSASCredential(testSAS(t, "hub"))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err = cred.Token(ctx, "hub")
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestSASCredentialStringRedacts(t *testing.T) {
	t.Parallel()
	tok := testSAS(t, "myhub.azure-devices.net")
	sas, err := ParseSAS(tok)
	require.NoError(t, err)
	cred, err := NewSASCredential(tok)
	require.NoError(t, err)
	assert.Equal(t, "SASCredential{SharedAccessSignature sr=myhub.azure-devices.net&sig=<redacted>&se=4000000000&skn=service}", cred.String())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out := fmt.Sprintf(verb, cred)
		assert.NotContains(t, out, sas.Signature, verb)
		assert.Contains(t, out, "<redacted>", verb)
	}
}
