package auth

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSAS is a SAS token signed with testKey, far in the future.
func testSAS(t testing.TB, resource string) string {
	t.Helper()
	tok, err := SignSAS(resource, "service", testKey, time.Unix(4_000_000_000, 0))
	require.NoError(t, err)
	return tok
}

func TestParseConnectionString(t *testing.T) {
	t.Parallel()
	sas := testSAS(t, "myhub.azure-devices.net")
	tests := []struct {
		name string
		in   string
		want ConnectionString
	}{
		{
			name: "service policy",
			in:   "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey,
			want: ConnectionString{HostName: "myhub.azure-devices.net", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey)},
		},
		{
			name: "any order, any case, whitespace, trailing semicolon",
			in:   " sharedaccesskey = " + testKey + " ;\tHOSTNAME=myhub.azure-devices.net ; SharedAccessKeyName=service;;",
			want: ConnectionString{HostName: "myhub.azure-devices.net", SharedAccessKeyName: "service", SharedAccessKey: NewSecret(testKey)},
		},
		{
			name: "shared access signature",
			in:   "HostName=myhub.azure-devices.net;SharedAccessSignature=" + sas,
			want: ConnectionString{HostName: "myhub.azure-devices.net", SharedAccessSignature: NewSecret(sas)},
		},
		{
			name: "shared access signature with key name",
			in:   "HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessSignature=" + sas,
			want: ConnectionString{HostName: "myhub.azure-devices.net", SharedAccessKeyName: "service", SharedAccessSignature: NewSecret(sas)},
		},
		{
			name: "event hub compatible",
			in:   "Endpoint=sb://ihsuprodamres001dednamespace.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=" + testKey + ";EntityPath=myhub",
			want: ConnectionString{
				HostName: "ihsuprodamres001dednamespace.servicebus.windows.net", Endpoint: "sb://ihsuprodamres001dednamespace.servicebus.windows.net/",
				SharedAccessKeyName: "service", SharedAccessKey: NewSecret(testKey), EntityPath: "myhub",
			},
		},
		{
			name: "event hub without trailing slash, with port",
			in:   "Endpoint=sb://localhost:5672;SharedAccessKeyName=service;SharedAccessKey=" + testKey + ";EntityPath=hub;UseDevelopmentEmulator=true",
			want: ConnectionString{
				HostName: "localhost:5672", Endpoint: "sb://localhost:5672",
				SharedAccessKeyName: "service", SharedAccessKey: NewSecret(testKey), EntityPath: "hub", UseDevelopmentEmulator: true,
			},
		},
		{
			name: "endpoint and matching host name",
			in:   "HostName=NS.servicebus.windows.net;Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=s;SharedAccessKey=" + testKey,
			want: ConnectionString{HostName: "NS.servicebus.windows.net", Endpoint: "sb://ns.servicebus.windows.net/", SharedAccessKeyName: "s", SharedAccessKey: NewSecret(testKey)},
		},
		{
			name: "emulator on IPv4 loopback with port",
			in:   "HostName=127.0.0.1:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
			want: ConnectionString{HostName: "127.0.0.1:40123", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey), UseDevelopmentEmulator: true},
		},
		{
			name: "emulator on 127.0.0.0/8",
			in:   "HostName=127.1.2.3;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=TRUE",
			want: ConnectionString{HostName: "127.1.2.3", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey), UseDevelopmentEmulator: true},
		},
		{
			name: "emulator on localhost",
			in:   "HostName=LocalHost;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
			want: ConnectionString{HostName: "LocalHost", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey), UseDevelopmentEmulator: true},
		},
		{
			name: "emulator on localhost with port",
			in:   "HostName=localhost:8443;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
			want: ConnectionString{HostName: "localhost:8443", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey), UseDevelopmentEmulator: true},
		},
		{
			name: "emulator on bare ::1",
			in:   "HostName=::1;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
			want: ConnectionString{HostName: "::1", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey), UseDevelopmentEmulator: true},
		},
		{
			name: "emulator on [::1]:port",
			in:   "HostName=[::1]:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
			want: ConnectionString{HostName: "[::1]:40123", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey), UseDevelopmentEmulator: true},
		},
		{
			name: "emulator false on a remote host",
			in:   "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=false",
			want: ConnectionString{HostName: "myhub.azure-devices.net", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey)},
		},
		{
			name: "host name with port",
			in:   "HostName=myhub.azure-devices.net:443;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey,
			want: ConnectionString{HostName: "myhub.azure-devices.net:443", SharedAccessKeyName: "iothubowner", SharedAccessKey: NewSecret(testKey)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs, err := ParseConnectionString(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, *cs)

			// The canonical form parses back to the same thing.
			again, err := ParseConnectionString(cs.format(false))
			require.NoError(t, err)
			if cs.Endpoint != "" {
				// HostName is derived from Endpoint when written back.
				again.HostName = cs.HostName
			}
			assert.Equal(t, *cs, *again)
		})
	}
}

func TestParseConnectionStringErrors(t *testing.T) {
	t.Parallel()
	const secretKey = "c2VjcmV0LWtleS12YWx1ZS1mb3ItdGVzdHMtMTIzNA=="
	sas := testSAS(t, "myhub.azure-devices.net")
	const host = "HostName=myhub.azure-devices.net;"
	const policy = "SharedAccessKeyName=service;"
	tests := []struct {
		name        string
		in          string
		wantField   string
		wantProblem string
	}{
		{"empty", "", "", "is empty"},
		{"only separators", " ; ;", "HostName", "is missing"},
		{"missing host", policy + "SharedAccessKey=" + secretKey, "HostName", "is missing"},
		{"missing key name", host + "SharedAccessKey=" + secretKey, "SharedAccessKeyName", "is missing"},
		{"missing key", host + policy, "SharedAccessKey", "is missing"},
		{"key not base64", host + policy + "SharedAccessKey=" + secretKey[:10] + "!", "SharedAccessKey", "base64"},
		{"key unpadded", host + policy + "SharedAccessKey=" + strings.TrimRight(secretKey, "="), "SharedAccessKey", "base64"},
		{"empty key", host + policy + "SharedAccessKey=", "SharedAccessKey", "is empty"},
		{"empty host", "HostName=;" + policy + "SharedAccessKey=" + secretKey, "HostName", "is empty"},
		{"key and signature", host + policy + "SharedAccessKey=" + secretKey + ";SharedAccessSignature=" + sas, "SharedAccessSignature", "together"},
		{"bad signature", host + "SharedAccessSignature=SharedAccessSignature sr=hub&sig=" + secretKey, "SharedAccessSignature", "not a valid SAS"},
		{"duplicate host", host + "hostname=other;" + policy + "SharedAccessKey=" + secretKey, "HostName", "more than once"},
		{"duplicate key", host + policy + "SharedAccessKey=" + secretKey + ";SHAREDACCESSKEY=" + secretKey, "SharedAccessKey", "more than once"},
		{"field without =", host + policy + "SharedAccessKey", "SharedAccessKey", "has no value"},
		{"misspelt field", host + policy + "SharedAccesKey=" + secretKey, "SharedAccesKey", "did you mean SharedAccessKey"},
		{"unknown field", host + policy + "SharedAccessKey=" + secretKey + ";Transport=amqp", "field 4", "known name"},
		{"key as field name", host + policy + secretKey + "=", "field 3", "known name"},
		{"bare key", host + policy + secretKey, "field 3", "known name"},
		{"device connection string", host + "DeviceId=d1;SharedAccessKey=" + secretKey, "DeviceId", "device connection string"},
		{"module connection string", host + "DeviceId=d1;ModuleId=m;SharedAccessKey=" + secretKey, "DeviceId", "device connection string"},
		{"emulator on remote host", host + policy + "SharedAccessKey=" + secretKey + ";UseDevelopmentEmulator=true", "UseDevelopmentEmulator", "loopback"},
		{"emulator on private address", "HostName=10.0.0.1:40123;" + policy + "SharedAccessKey=" + secretKey + ";UseDevelopmentEmulator=true", "UseDevelopmentEmulator", "loopback"},
		{"emulator on localhost look-alike", "HostName=localhost.example.com;" + policy + "SharedAccessKey=" + secretKey + ";UseDevelopmentEmulator=true", "UseDevelopmentEmulator", "loopback"},
		{"emulator not a boolean", "HostName=localhost;" + policy + "SharedAccessKey=" + secretKey + ";UseDevelopmentEmulator=yes", "UseDevelopmentEmulator", "true"},
		{"host with scheme", "HostName=https://myhub.azure-devices.net;" + policy + "SharedAccessKey=" + secretKey, "HostName", "is a URL"},
		{"host with path", "HostName=myhub.azure-devices.net/x;" + policy + "SharedAccessKey=" + secretKey, "HostName", "host name"},
		{"host with bad port", "HostName=myhub.azure-devices.net:99999;" + policy + "SharedAccessKey=" + secretKey, "HostName", "port"},
		{"host with empty port", "HostName=myhub.azure-devices.net:;" + policy + "SharedAccessKey=" + secretKey, "HostName", "port"},
		{"host with bad bracket", "HostName=[::1;" + policy + "SharedAccessKey=" + secretKey, "HostName", "]"},
		{"host with space", "HostName=my hub;" + policy + "SharedAccessKey=" + secretKey, "HostName", "host name"},
		{"endpoint not sb", "Endpoint=https://ns.servicebus.windows.net/;" + policy + "SharedAccessKey=" + secretKey, "Endpoint", "sb://"},
		{"endpoint without host", "Endpoint=sb:///;" + policy + "SharedAccessKey=" + secretKey, "Endpoint", "no host"},
		{"endpoint with path", "Endpoint=sb://ns.servicebus.windows.net/hub;" + policy + "SharedAccessKey=" + secretKey, "Endpoint", "sb://host/"},
		{"endpoint bad URL", "Endpoint=sb://%zz/;" + policy + "SharedAccessKey=" + secretKey, "Endpoint", "valid URL"},
		{"endpoint and other host", host + "Endpoint=sb://ns.servicebus.windows.net/;" + policy + "SharedAccessKey=" + secretKey, "Endpoint", "another host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs, err := ParseConnectionString(tt.in)
			require.Error(t, err)
			assert.Nil(t, cs)
			var csErr *ConnectionStringError
			require.ErrorAs(t, err, &csErr)
			assert.Equal(t, tt.wantField, csErr.Field)
			assert.Contains(t, csErr.Problem, tt.wantProblem)

			msg := err.Error()
			assert.NotContains(t, msg, secretKey)
			assert.NotContains(t, msg, strings.TrimRight(secretKey, "="))
			assert.NotContains(t, msg, secretKey[:10])
			assert.NotContains(t, msg, "sig=")
		})
	}
}

func TestConnectionStringStringRedacts(t *testing.T) {
	t.Parallel()
	sas := testSAS(t, "myhub.azure-devices.net")
	tests := []struct {
		name, in, want string
	}{
		{
			"key",
			"SharedAccessKey=" + testKey + ";HostName=myhub.azure-devices.net;SharedAccessKeyName=service",
			"HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=<redacted>",
		},
		{
			"signature",
			"HostName=myhub.azure-devices.net;SharedAccessSignature=" + sas,
			"HostName=myhub.azure-devices.net;SharedAccessSignature=<redacted>",
		},
		{
			"event hub",
			"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=" + testKey + ";EntityPath=hub",
			"Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=<redacted>;EntityPath=hub",
		},
		{
			"emulator",
			"HostName=127.0.0.1:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true",
			"HostName=127.0.0.1:40123;SharedAccessKeyName=iothubowner;SharedAccessKey=<redacted>;UseDevelopmentEmulator=true",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs, err := ParseConnectionString(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cs.String())
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				for _, arg := range []any{cs, *cs} {
					out := fmt.Sprintf(verb, arg)
					assert.NotContains(t, out, testKey, verb)
					assert.NotContains(t, out, "sig=", verb)
				}
			}
		})
	}
}

func TestConnectionStringCredential(t *testing.T) {
	t.Parallel()
	t.Run("key", func(t *testing.T) {
		t.Parallel()
		cred, err := NewCredentialFromConnectionString("HostName=h.example;SharedAccessKeyName=service;SharedAccessKey=" + testKey)
		require.NoError(t, err)
		keyCred, ok := cred.(*SharedAccessKeyCredential)
		require.True(t, ok, "%T", cred)
		assert.Equal(t, "service", keyCred.KeyName())
		tok, err := cred.Token(t.Context(), "h.example")
		require.NoError(t, err)
		sas, err := ParseSAS(tok.Value.Reveal())
		require.NoError(t, err)
		assert.Equal(t, "service", sas.KeyName)
		assert.True(t, sas.VerifySignature(testKey))
	})
	t.Run("signature", func(t *testing.T) {
		t.Parallel()
		sas := testSAS(t, "h.example")
		cred, err := NewCredentialFromConnectionString("HostName=h.example;SharedAccessSignature=" + sas)
		require.NoError(t, err)
		require.IsType(t, &SASCredential{}, cred)
		tok, err := cred.Token(t.Context(), "h.example")
		require.NoError(t, err)
		assert.Equal(t, sas, tok.Value.Reveal())
	})
	t.Run("bad string", func(t *testing.T) {
		t.Parallel()
		cred, err := NewCredentialFromConnectionString("HostName=h.example")
		require.Error(t, err)
		assert.Nil(t, cred)
	})
	t.Run("hand-built without secret", func(t *testing.T) {
		t.Parallel()
		cs := &ConnectionString{HostName: "h.example"}
		_, err := cs.Credential()
		var csErr *ConnectionStringError
		require.ErrorAs(t, err, &csErr)
		assert.Equal(t, "SharedAccessKey", csErr.Field)
	})
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"localhost": true, "LOCALHOST:1": true, "localhost.": true, "127.0.0.1": true, "127.255.255.254:5671": true,
		"::1": true, "[::1]": true, "[::1]:5671": true, "0:0:0:0:0:0:0:1": true,
		"example.com": false, "10.0.0.1": false, "128.0.0.1": false, "::2": false, "[::ffff:10.0.0.1]:1": false,
		"localhost.evil.com": false, "": false, "[::1": false,
	}
	for host, want := range tests {
		assert.Equal(t, want, isLoopback(host), host)
	}
}

func TestRequireIoTHub(t *testing.T) {
	t.Parallel()
	eh, err := ParseConnectionString("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=service;SharedAccessKey=" + testKey + ";EntityPath=hub")
	require.NoError(t, err)
	assert.True(t, eh.IsEventHub())
	err = eh.RequireIoTHub()
	var ce *ConnectionStringError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Endpoint", ce.Field)
	assert.Contains(t, err.Error(), "Event Hub-compatible")
	assert.Contains(t, err.Error(), "HostName=<hub>.azure-devices.net")
	assert.NotContains(t, err.Error(), testKey)
	hub, err := ParseConnectionString("HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=" + testKey)
	require.NoError(t, err)
	assert.False(t, hub.IsEventHub())
	assert.NoError(t, hub.RequireIoTHub())

	// A field whose name is unknown is named by its position, once.
	_, err = ParseConnectionString("HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=" + testKey + ";Transport=amqp")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "field field")
	assert.Contains(t, err.Error(), "connection string field 4 (counting from 1)")
}
