package auth

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// minSecretLen is the length from which a secret value found in an error
// message is taken for a leak rather than a coincidence with its fixed text.
const minSecretLen = 20

func FuzzParseConnectionString(f *testing.F) {
	sas, err := SignSAS("myhub.azure-devices.net", "service", testKey, time.Unix(4_000_000_000, 0))
	require.NoError(f, err)
	for _, seed := range []string{
		"HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey,
		"HostName=myhub.azure-devices.net;SharedAccessSignature=" + sas,
		"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=" + testKey + ";EntityPath=myhub",
		"HostName=127.0.0.1:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
		"HostName=[::1]:5671;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
		" hostname = h ; sharedaccesskeyname = n ; sharedaccesskey = " + testKey + " ;;",
		"",
		";",
		"HostName",
		"HostName=",
		"HostName=h;HostName=h",
		"HostName=h;SharedAccessKeyName=n;SharedAccessKey=not base64",
		"HostName=h;SharedAccessKeyName=n;" + testKey,
		"HostName=h;SharedAccessKeyName=n;" + testKey + "=",
		"HostName=h;SharedAccessKeyName=n;SharedAccesKey=" + testKey,
		"HostName=h;DeviceId=d;SharedAccessKey=" + testKey,
		"HostName=myhub.azure-devices.net;SharedAccessKeyName=n;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
		"HostName=h;SharedAccessSignature=SharedAccessSignature sr=h&sig=" + testKey + "&se=x",
		"Endpoint=sb://%zz/;SharedAccessKeyName=n;SharedAccessKey=" + testKey,
		"HostName=[::1;SharedAccessKeyName=n;SharedAccessKey=" + testKey,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cs, err := ParseConnectionString(in)
		if err != nil {
			require.Nil(t, cs)
			var csErr *ConnectionStringError
			require.ErrorAs(t, err, &csErr)
			msg := err.Error()
			for _, secret := range secretValues(in) {
				if looksSecret(secret) {
					assert.NotContains(t, msg, secret, "error leaks a secret")
				}
			}
			return
		}

		require.NotEmpty(t, cs.HostName)
		require.NoError(t, checkHost(cs.HostName))
		require.True(t, !cs.SharedAccessKey.IsZero() || !cs.SharedAccessSignature.IsZero())
		if cs.UseDevelopmentEmulator {
			require.True(t, isLoopback(cs.HostName), cs.HostName)
		}

		s := cs.String()
		if !cs.SharedAccessKey.IsZero() {
			assert.Contains(t, s, "SharedAccessKey=<redacted>")
			assert.NotContains(t, s, "SharedAccessKey="+cs.SharedAccessKey.Reveal())
		}
		if !cs.SharedAccessSignature.IsZero() {
			assert.Contains(t, s, "SharedAccessSignature=<redacted>")
			assert.NotContains(t, s, "SharedAccessSignature="+cs.SharedAccessSignature.Reveal())
		}

		again, err := ParseConnectionString(cs.format(false))
		require.NoError(t, err, "canonical form does not parse")
		if cs.Endpoint != "" {
			again.HostName = cs.HostName
		}
		require.Equal(t, *cs, *again)

		cred, err := cs.Credential()
		require.NoError(t, err)
		require.NotNil(t, cred)
	})
}

// looksSecret reports whether s is long enough, and unlike the fixed text of
// error messages enough (which has field names, and digits only in the
// loopback ranges), that finding it in an error message means a leak.
func looksSecret(s string) bool {
	return len(s) >= minSecretLen && strings.ContainsAny(s, "0123456789+/") &&
		!strings.Contains("(localhost, 127.0.0.0/8, ::1)", s)
}

// secretValues returns the values of the fields of a connection string that
// look like SharedAccessKey or SharedAccessSignature, however mangled, and
// the fields that have no "=" and are not near misses of a field name.
func secretValues(in string) []string {
	var secrets []string
	for part := range strings.SplitSeq(in, ";") {
		name, value, ok := strings.Cut(part, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case !ok && nearestField(strings.TrimSpace(part)) == "":
			// Near misses of field names are echoed on purpose.
			secrets = append(secrets, strings.TrimSpace(part))
		case strings.Contains(name, "key") && !strings.Contains(name, "name"), strings.Contains(name, "signature"):
			secrets = append(secrets, strings.TrimSpace(value))
		}
	}
	return secrets
}

func FuzzParseSAS(f *testing.F) {
	good, err := SignSAS("myhub.azure-devices.net/devices/d1", "service", testKey, time.Unix(2_000_000_000, 0))
	require.NoError(f, err)
	for _, seed := range []string{
		good,
		strings.TrimPrefix(good, "SharedAccessSignature "),
		"se=100&skn=k&sig=c2lnbmF0dXJl&sr=hub",
		"SharedAccessSignature sr=hub%2Fdevices%2Fa%20b!&sig=c2lnbmF0dXJl&se=1",
		"",
		"SharedAccessSignature",
		"SharedAccessSignature ",
		"sr=hub&sig=c2lnbmF0dXJl",
		"sr=hub&sig=c2lnbmF0dXJl&se=-1",
		"sr=hub&sig=c2lnbmF0dXJl&se=99999999999999999999",
		"sr=hub&sr=hub&sig=c2lnbmF0dXJl&se=1",
		"sr=hub&sig=!!&se=1",
		"sr=%zz&sig=c2lnbmF0dXJl&se=1",
		"sr=hub&c2lnbmF0dXJlLWZyYWdtZW50LWxvbmc=&se=1",
		"sr=hub&sig&se=1",
		"&&&",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sas, err := ParseSAS(in)
		if err != nil {
			require.Nil(t, sas)
			var sasErr *SASError
			require.True(t, errors.As(err, &sasErr))
			msg := err.Error()
			for part := range strings.SplitSeq(in, "&") {
				name, value, _ := strings.Cut(part, "=")
				for _, v := range []string{name, value} {
					if len(v) >= minSecretLen && !strings.Contains(strings.ToLower(v), "sharedaccesssignature") {
						assert.NotContains(t, msg, v, "error leaks a field")
					}
				}
			}
			return
		}

		require.NotEmpty(t, sas.Resource)
		require.NotEmpty(t, sas.Signature.Reveal())
		require.Positive(t, sas.Expiry.Unix())
		s := sas.String()
		assert.Contains(t, s, "sig=<redacted>")
		assert.NotContains(t, s, "sig="+url.QueryEscape(sas.Signature.Reveal()))

		// The fields, encoded afresh, parse back to themselves.
		token := "SharedAccessSignature sr=" + url.QueryEscape(sas.Resource) +
			"&sig=" + url.QueryEscape(sas.Signature.Reveal()) +
			"&se=" + strconv.FormatInt(sas.Expiry.Unix(), 10)
		if sas.KeyName != "" {
			token += "&skn=" + url.QueryEscape(sas.KeyName)
		}
		again, err := ParseSAS(token)
		require.NoError(t, err)
		assert.Equal(t, sas.Resource, again.Resource)
		assert.Equal(t, sas.Signature, again.Signature)
		assert.Equal(t, sas.Expiry, again.Expiry)
		assert.Equal(t, sas.KeyName, again.KeyName)

		// Signing the same fields yields a token that verifies.
		signed, err := SignSAS(sas.Resource, sas.KeyName, testKey, sas.Expiry)
		require.NoError(t, err)
		resigned, err := ParseSAS(signed)
		require.NoError(t, err)
		assert.Equal(t, sas.Resource, resigned.Resource)
		assert.True(t, resigned.VerifySignature(testKey))
		assert.False(t, resigned.VerifySignature(otherKey))
	})
}
