package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a base64 shared access key used throughout the tests.
const testKey = "aW90aHViLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWY="

// otherKey is a valid key that did not sign anything.
const otherKey = "b3RoZXIta2V5LW5vdC11c2VkLWZvci1zaWduaW5nISE="

func TestSignSASKnownAnswer(t *testing.T) {
	t.Parallel()
	// Key "password", uri "uri", expiry 12345: the HMAC-SHA256 of "uri\n12345".
	tok, err := SignSAS("uri", "", "cGFzc3dvcmQ=", time.Unix(12345, 0))
	require.NoError(t, err)
	assert.Contains(t, tok, "sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D")
	assert.Equal(t, "SharedAccessSignature sr=uri&sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D&se=12345", tok)
}

func TestSignSASFormat(t *testing.T) {
	t.Parallel()
	expiry := time.Date(2030, 1, 2, 3, 4, 5, 999_000_000, time.UTC)
	tests := []struct {
		name, resource, keyName, wantPrefix, wantSuffix string
	}{
		{"host with key name", "myhub.azure-devices.net", "iothubowner",
			"SharedAccessSignature sr=myhub.azure-devices.net&sig=", "&se=1893553445&skn=iothubowner"},
		{"no key name", "myhub.azure-devices.net", "",
			"SharedAccessSignature sr=myhub.azure-devices.net&sig=", "&se=1893553445"},
		{"path is escaped", "myhub.azure-devices.net/devices/d 1", "service",
			"SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fd+1&sig=", "&se=1893553445&skn=service"},
		{"host with port", "127.0.0.1:40123", "iothubowner",
			"SharedAccessSignature sr=127.0.0.1%3A40123&sig=", "&se=1893553445&skn=iothubowner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := SignSAS(tt.resource, tt.keyName, testKey, expiry)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(tok, tt.wantPrefix), tok)
			assert.True(t, strings.HasSuffix(tok, tt.wantSuffix), tok)

			sas, err := ParseSAS(tok)
			require.NoError(t, err)
			assert.Equal(t, tt.resource, sas.Resource)
			assert.Equal(t, tt.keyName, sas.KeyName)
			assert.Equal(t, time.Unix(1893553445, 0).UTC(), sas.Expiry)
			assert.True(t, sas.VerifySignature(testKey))
			assert.False(t, sas.VerifySignature(otherKey))
		})
	}
}

func TestSignSASErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, resource, key string
		expiry              time.Time
		wantField           string
	}{
		{"empty resource", "", testKey, time.Unix(100, 0), "resource"},
		{"empty key", "hub", "", time.Unix(100, 0), "key"},
		{"key not base64", "hub", "not base64!!", time.Unix(100, 0), "key"},
		{"key unpadded", "hub", "cGFzc3dvcmQ", time.Unix(100, 0), "key"},
		{"expiry zero", "hub", testKey, time.Time{}, "expiry"},
		{"expiry epoch", "hub", testKey, time.Unix(0, 0), "expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := SignSAS(tt.resource, "k", tt.key, tt.expiry)
			require.Error(t, err)
			assert.Empty(t, tok)
			var sasErr *SASError
			require.ErrorAs(t, err, &sasErr)
			assert.Equal(t, tt.wantField, sasErr.Field)
			if tt.key != "" {
				assert.NotContains(t, err.Error(), tt.key)
			}
		})
	}
}

func TestParseSAS(t *testing.T) {
	t.Parallel()
	good, err := SignSAS("myhub.azure-devices.net", "service", testKey, time.Unix(2_000_000_000, 0))
	require.NoError(t, err)
	fields := strings.TrimPrefix(good, "SharedAccessSignature ")
	parts := strings.Split(fields, "&")
	sig, err := url.QueryUnescape(strings.TrimPrefix(parts[1], "sig="))
	require.NoError(t, err)

	tests := []struct {
		name, token string
		wantKeyName string
	}{
		{"as signed", good, "service"},
		{"without prefix", fields, "service"},
		{"reversed order", "SharedAccessSignature " + strings.Join([]string{parts[3], parts[2], parts[1], parts[0]}, "&"), "service"},
		{"skn first", parts[3] + "&" + parts[0] + "&" + parts[1] + "&" + parts[2], "service"},
		{"without skn", strings.Join(parts[:3], "&"), ""},
		{"surrounding whitespace", "  " + good + "\n", "service"},
		{"trailing ampersand", good + "&", "service"},
		{"prefix in other case", "sharedaccesssignature " + fields, "service"},
		{"field names in upper case", "SR=myhub.azure-devices.net&SIG=" + url.QueryEscape(sig) + "&SE=2000000000&SKN=service", "service"},
		{"sig with unescaped plus and slash", "sr=myhub.azure-devices.net&sig=" + sig + "&se=2000000000&skn=service", "service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sas, err := ParseSAS(tt.token)
			require.NoError(t, err)
			assert.Equal(t, "myhub.azure-devices.net", sas.Resource)
			assert.Equal(t, sig, sas.Signature.Reveal())
			assert.Equal(t, time.Unix(2_000_000_000, 0).UTC(), sas.Expiry)
			assert.Equal(t, tt.wantKeyName, sas.KeyName)
			// skn is not signed, so every variant verifies.
			assert.True(t, sas.VerifySignature(testKey))
		})
	}
}

func TestParseSASErrors(t *testing.T) {
	t.Parallel()
	const sig = "c2VjcmV0LXNpZ25hdHVyZS12YWx1ZS0xMjM0NTY3ODk%3D"
	tests := []struct {
		name, token string
		wantField   string
		wantProblem string
	}{
		{"empty", "", "", "is empty"},
		{"blank", "   ", "", "is empty"},
		{"prefix only", "SharedAccessSignature", "", "has no fields"},
		{"prefix only with space", "SharedAccessSignature  ", "", "has no fields"},
		{"prefix glued", "SharedAccessSignaturesr=a&sig=" + sig + "&se=1", "", "no space"},
		{"missing sr", "sig=" + sig + "&se=100", "sr", "is missing"},
		{"missing sig", "sr=hub&se=100", "sig", "is missing"},
		{"missing se", "sr=hub&sig=" + sig, "se", "is missing"},
		{"empty sr", "sr=&sig=" + sig + "&se=100", "sr", "is empty"},
		{"empty sig", "sr=hub&sig=&se=100", "sig", "is empty"},
		{"sig not base64", "sr=hub&sig=" + sig + "!!&se=100", "sig", "base64"},
		{"se not a number", "sr=hub&sig=" + sig + "&se=soon", "se", "Unix time"},
		{"se negative", "sr=hub&sig=" + sig + "&se=-5", "se", "Unix time"},
		{"se signed", "sr=hub&sig=" + sig + "&se=+5", "se", "Unix time"},
		{"se zero", "sr=hub&sig=" + sig + "&se=0", "se", "Unix time"},
		{"se overflow", "sr=hub&sig=" + sig + "&se=99999999999999999999", "se", "Unix time"},
		{"duplicate sr", "sr=hub&sr=hub&sig=" + sig + "&se=100", "sr", "more than once"},
		{"duplicate sig", "sr=hub&sig=" + sig + "&sig=" + sig + "&se=100", "sig", "more than once"},
		{"duplicate se in other case", "sr=hub&sig=" + sig + "&se=100&SE=100", "se", "more than once"},
		{"unknown field", "sr=hub&sig=" + sig + "&se=100&foo=bar", "field 4", "is not one of"},
		{"field without value", "sr=hub&sig&se=100", "sig", "has no value"},
		{"bad escape", "sr=hub%zz&sig=" + sig + "&se=100", "sr", "URL-encoded"},
		{"sig fragment as a name", "sr=hub&" + sig + "=&se=100", "field 2", "is not one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sas, err := ParseSAS(tt.token)
			require.Error(t, err)
			assert.Nil(t, sas)
			var sasErr *SASError
			require.ErrorAs(t, err, &sasErr)
			assert.Equal(t, tt.wantField, sasErr.Field)
			assert.Contains(t, sasErr.Problem, tt.wantProblem)
			assert.NotContains(t, err.Error(), sig)
			assert.NotContains(t, err.Error(), "c2VjcmV0")
		})
	}
}

func TestSASVerifySignature(t *testing.T) {
	t.Parallel()
	tok, err := SignSAS("myhub.azure-devices.net/devices/d1", "", testKey, time.Unix(1_900_000_000, 0))
	require.NoError(t, err)
	sas, err := ParseSAS(tok)
	require.NoError(t, err)

	t.Run("right key", func(t *testing.T) {
		t.Parallel()
		assert.True(t, sas.VerifySignature(testKey))
	})
	t.Run("wrong or bad keys", func(t *testing.T) {
		t.Parallel()
		for _, key := range []string{otherKey, "", "not base64", "cGFzc3dvcmQ="} {
			assert.False(t, sas.VerifySignature(key), key)
		}
	})
	t.Run("tampered fields", func(t *testing.T) {
		t.Parallel()
		for _, tamper := range []func(s *SAS){
			func(s *SAS) { s.Resource = "myhub.azure-devices.net" },
			func(s *SAS) { s.Expiry = s.Expiry.Add(time.Hour) },
			func(s *SAS) { s.Signature = NewSecret("AAAA" + s.Signature.Reveal()[4:]) },
			func(s *SAS) { s.Signature = NewSecret("not base64") },
		} {
			c := *sas
			tamper(&c)
			assert.False(t, c.VerifySignature(testKey))
		}
	})
	t.Run("built by hand", func(t *testing.T) {
		t.Parallel()
		c := SAS{Resource: sas.Resource, Signature: sas.Signature, Expiry: sas.Expiry}
		assert.True(t, c.VerifySignature(testKey))
	})
	t.Run("other signer's encoding", func(t *testing.T) {
		t.Parallel()
		// encodeURIComponent (Node) leaves '!' alone and writes spaces as
		// %20 where url.QueryEscape writes %21 and '+'; the signature covers
		// the encoded form, so the parsed token must verify as sent.
		encoded := "hub%2Fdevices%2Fa%20b!"
		se := []byte("1900000000")
		key, err := decodeKey(testKey)
		require.NoError(t, err)
		token := "SharedAccessSignature sr=" + encoded + "&sig=" + url.QueryEscape(computeSignature(key, encoded, se)) + "&se=1900000000"
		s, err := ParseSAS(token)
		require.NoError(t, err)
		assert.Equal(t, "hub/devices/a b!", s.Resource)
		assert.True(t, s.VerifySignature(testKey))
	})
}

func TestSASExpired(t *testing.T) {
	t.Parallel()
	s := &SAS{Expiry: time.Unix(1000, 0)}
	assert.False(t, s.Expired(time.Unix(999, 999_999_999)))
	assert.True(t, s.Expired(time.Unix(1000, 0)))
	assert.True(t, s.Expired(time.Unix(1001, 0)))
}

func TestSASStringRedacts(t *testing.T) {
	t.Parallel()
	tok, err := SignSAS("hub", "service", testKey, time.Unix(1_900_000_000, 0))
	require.NoError(t, err)
	sas, err := ParseSAS(tok)
	require.NoError(t, err)
	assert.Equal(t, "SharedAccessSignature sr=hub&sig=<redacted>&se=1900000000&skn=service", sas.String())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, arg := range []any{sas, *sas} {
			out := fmt.Sprintf(verb, arg)
			assert.NotContains(t, out, sas.Signature, verb)
			assert.NotContains(t, out, url.QueryEscape(sas.Signature.Reveal()), verb)
			assert.Contains(t, out, "<redacted>", verb)
		}
	}
}

func TestAuthorizationHeader(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "SharedAccessSignature sr=a&sig=b&se=1",
		AuthorizationHeader(AccessToken{Value: NewSecret("SharedAccessSignature sr=a&sig=b&se=1"), Type: TokenTypeSAS}))
	assert.Equal(t, "Bearer eyJ.x.y", AuthorizationHeader(AccessToken{Value: NewSecret("eyJ.x.y"), Type: TokenTypeJWT}))
}

func TestErrorsUnwrap(t *testing.T) {
	t.Parallel()
	assert.ErrorIs(t, &TokenExpiredError{ExpiresOn: time.Unix(5, 0)}, ErrTokenExpired)
	assert.ErrorIs(t, &AudienceError{Audience: "a", Resource: "b"}, ErrAudienceMismatch)
	assert.False(t, errors.Is(&AudienceError{}, ErrTokenExpired))
	inner := &SASError{Field: "se", Problem: "is missing"}
	outer := &ConnectionStringError{Field: "SharedAccessSignature", Problem: "is not a valid SAS token", Err: inner}
	var got *SASError
	require.ErrorAs(t, outer, &got)
	assert.Equal(t, "se", got.Field)
	assert.Equal(t, "auth: SAS token field se is missing", inner.Error())
	assert.Equal(t, "auth: connection string field SharedAccessSignature is not a valid SAS token", outer.Error())
}

func TestVerifyKeyTextSignature(t *testing.T) {
	t.Parallel()
	cred, err := NewSharedAccessKeyCredential("k", "cGFzc3dvcmQ=", &SharedAccessKeyCredentialOptions{SignWithKeyText: true})
	require.NoError(t, err)
	tok, err := cred.Token(context.Background(), "sb://ns/hub")
	require.NoError(t, err)
	sas, err := ParseSAS(tok.Value.Reveal())
	require.NoError(t, err)
	assert.True(t, sas.VerifyKeyTextSignature("cGFzc3dvcmQ="))
	assert.False(t, sas.VerifySignature("cGFzc3dvcmQ="), "not the IoT Hub signing")
	assert.False(t, sas.VerifyKeyTextSignature("b3RoZXI="))
	assert.False(t, sas.VerifyKeyTextSignature(""))
}
