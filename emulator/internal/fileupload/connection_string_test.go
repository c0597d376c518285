package fileupload

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a well-formed account key that is no account's.
const testKey = "dGhpcy1pcy1ub3QtYS1yZWFsLWtleS1mb3ItYW55LXN0b3JhZ2UtYWNjb3VudC0wMTIzNDU2Nzg5YWJjZA=="

func TestParseConnectionString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in       string
		account, endpt string
		key            string
	}{
		{"account style", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + testKey + ";EndpointSuffix=core.windows.net",
			"acct", "https://acct.blob.core.windows.net", testKey},
		{"defaults", "AccountName=acct;AccountKey=" + testKey, "acct", "https://acct.blob.core.windows.net", testKey},
		{"http and a sovereign cloud", "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=" + testKey + ";EndpointSuffix=core.chinacloudapi.cn",
			"acct", "http://acct.blob.core.chinacloudapi.cn", testKey},
		{"path-style BlobEndpoint", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + testKey + ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;",
			"devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1", testKey},
		{"BlobEndpoint wins over the suffix", "AccountName=acct;AccountKey=" + testKey + ";EndpointSuffix=x.y;BlobEndpoint=https://blob.example.com",
			"acct", "https://blob.example.com", testKey},
		{"IPv6 BlobEndpoint", "AccountName=acct;AccountKey=" + testKey + ";BlobEndpoint=http://[::1]:10000/acct",
			"acct", "http://[::1]:10000/acct", testKey},
		{"names are case-insensitive, spaces trimmed", " accountname = acct ; ACCOUNTKEY = " + testKey + " ;",
			"acct", "https://acct.blob.core.windows.net", testKey},
		{"other services' endpoints are ignored", "AccountName=acct;AccountKey=" + testKey + ";QueueEndpoint=https://q;TableEndpoint=https://t;FileEndpoint=https://f",
			"acct", "https://acct.blob.core.windows.net", testKey},
		{"Azurite", "UseDevelopmentStorage=true", devAccountName, "http://127.0.0.1:10000/devstoreaccount1", devAccountKey},
		{"Azurite behind a proxy", "UseDevelopmentStorage=TRUE;DevelopmentStorageProxyUri=http://ipv4.fiddler", devAccountName, "http://ipv4.fiddler:10000/devstoreaccount1", devAccountKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, err := ParseConnectionString(c.in)
			require.NoError(t, err)
			assert.Equal(t, c.account, a.Name)
			assert.Equal(t, c.endpt, a.Endpoint.String())
			assert.Equal(t, c.key, a.Key.Reveal())
			for _, verb := range []string{"%s", "%v", "%+v", "%#v"} {
				assert.NotContains(t, fmt.Sprintf(verb, a), c.key)
				assert.NotContains(t, fmt.Sprintf(verb, *a), c.key)
			}
		})
	}
}

func TestParseConnectionStringErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, field, reason string
	}{
		{"empty", "", "AccountName", "is missing"},
		{"no key", "AccountName=acct", "AccountKey", "is missing"},
		{"empty key", "AccountName=acct;AccountKey=", "AccountKey", "is empty"},
		{"SAS only", "BlobEndpoint=https://acct.blob.core.windows.net;AccountName=acct;SharedAccessSignature=sv=2022&sig=" + testKey, "AccountKey", "cannot sign"},
		{"key not base64", "AccountName=acct;AccountKey=not*base64" + testKey, "AccountKey", "not base64"},
		{"key without its name", "AccountName=acct;" + testKey, "connection string", "unknown setting (not shown)"},
		{"segment without =", "AccountName=acct;AccountKeyXYZ", "connection string", "part 2 has no '='"},
		{"typo", "AccountName=acct;AcountKey=" + testKey, "connection string", `unknown setting "AcountKey"`},
		{"duplicate", "AccountName=acct;AccountName=acct;AccountKey=" + testKey, "AccountName", "appears twice"},
		{"bad account name", "AccountName=My_Account;AccountKey=" + testKey, "AccountName", "3 to 24 lowercase"},
		{"bad protocol", "DefaultEndpointsProtocol=ftp;AccountName=acct;AccountKey=" + testKey, "DefaultEndpointsProtocol", "https or http"},
		{"bad suffix", "AccountName=acct;AccountKey=" + testKey + ";EndpointSuffix=core/windows", "EndpointSuffix", "DNS suffix"},
		{"relative endpoint", "AccountName=acct;AccountKey=" + testKey + ";BlobEndpoint=acct.blob.core.windows.net", "BlobEndpoint", "http or https URL"},
		{"endpoint with a SAS", "AccountName=acct;AccountKey=" + testKey + ";BlobEndpoint=https://h/acct?sig=" + testKey, "BlobEndpoint", "without user, query"},
		{"endpoint with a bad port", "AccountName=acct;AccountKey=" + testKey + ";BlobEndpoint=http://h:99999", "BlobEndpoint", "host"},
		{"development storage false", "UseDevelopmentStorage=false", "UseDevelopmentStorage", "must be true"},
		{"development storage with a key", "UseDevelopmentStorage=true;AccountKey=" + testKey, "AccountKey", "cannot be combined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, err := ParseConnectionString(c.in)
			require.Error(t, err)
			assert.Nil(t, a)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, c.field, ce.Field)
			assert.Contains(t, err.Error(), c.reason)
			assert.NotContains(t, err.Error(), testKey[:20], "the error shows the key")
		})
	}
}

func FuzzParseConnectionString(f *testing.F) {
	for _, seed := range []string{
		"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + testKey + ";EndpointSuffix=core.windows.net",
		"AccountName=devstoreaccount1;AccountKey=" + testKey + ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1",
		"AccountName=acct;AccountKey=" + testKey + ";BlobEndpoint=http://[::1]:10000/acct/",
		"UseDevelopmentStorage=true",
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://[::1]",
		"AccountName=acct;SharedAccessSignature=sv=1&sig=" + testKey,
		"AccountName=acct;" + testKey,
		"AccountName=acct;AccountKey=" + testKey + ";BlobEndpoint=https://h/?sig=" + testKey,
		";;", "=", "AccountName", "AccountName=acct;AccountName=acct",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ParseConnectionString(in)
		if err != nil {
			require.Nil(t, a)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "%T is not a *ConfigError", err)
			for _, v := range values(in) {
				if len(v) >= 20 {
					assert.NotContains(t, err.Error(), v, "the error shows a value")
				}
			}
			return
		}
		require.True(t, isAccountName(a.Name), a.Name)
		require.False(t, a.Key.IsZero())
		require.Contains(t, []string{"http", "https"}, a.Endpoint.Scheme)
		require.NotEmpty(t, a.Endpoint.Host)
		require.Empty(t, a.Endpoint.RawQuery)
		require.False(t, strings.HasSuffix(a.Endpoint.Path, "/"))
		if key := a.Key.Reveal(); len(key) >= 20 {
			assert.NotContains(t, fmt.Sprintf("%v %+v %#v %s", a, a, a, *a), key)
		}
	})
}

// values returns what of a connection string may be secret: each value,
// and each name that is no setting's (a key pasted without its name).
func values(in string) []string {
	var out []string
	for _, part := range strings.Split(in, ";") {
		name, value, _ := strings.Cut(part, "=")
		if _, known := settingNames[strings.ToLower(strings.TrimSpace(name))]; !known {
			out = append(out, strings.TrimSpace(name))
		}
		out = append(out, strings.TrimSpace(value))
	}
	return out
}
