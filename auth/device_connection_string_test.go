package auth

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDeviceConnectionString(t *testing.T) {
	t.Parallel()
	d, err := ParseDeviceConnectionString("HostName=myhub.azure-devices.net;DeviceId=a#b;ModuleId=m1;SharedAccessKey=" + testKey)
	require.NoError(t, err)
	assert.Equal(t, "myhub.azure-devices.net", d.HostName)
	assert.Equal(t, "a#b", d.DeviceID)
	assert.Equal(t, "m1", d.ModuleID)
	assert.Equal(t, testKey, d.SharedAccessKey.Reveal())
	assert.Equal(t, "myhub.azure-devices.net/devices/a%23b/modules/m1", d.Resource())
	tok, err := d.Token(time.Now().Add(time.Hour))
	require.NoError(t, err)
	sas, err := ParseSAS(tok)
	require.NoError(t, err)
	assert.True(t, sas.VerifySignature(testKey))
	assert.Empty(t, sas.KeyName, "device tokens carry no skn")
	for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q"} {
		assert.NotContains(t, fmt.Sprintf(verb, d), testKey, verb)
		assert.NotContains(t, fmt.Sprintf(verb, *d), testKey, verb)
	}
	emu, err := ParseDeviceConnectionString("HostName=127.0.0.1:4000;DeviceId=d;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true")
	require.NoError(t, err)
	assert.True(t, emu.UseDevelopmentEmulator)

	x, err := ParseDeviceConnectionString("HostName=myhub.azure-devices.net;DeviceId=cam-1;X509=True")
	require.NoError(t, err)
	assert.True(t, x.X509)
	assert.True(t, x.SharedAccessKey.IsZero())
	assert.Equal(t, "HostName=myhub.azure-devices.net;DeviceId=cam-1;x509=true", x.String())
	_, err = x.Token(time.Now().Add(time.Hour))
	assert.ErrorContains(t, err, "X.509")
	off, err := ParseDeviceConnectionString("HostName=h;DeviceId=d;x509=false;SharedAccessKey=" + testKey)
	require.NoError(t, err)
	assert.False(t, off.X509)

	for _, tc := range []struct{ in, field string }{
		{"", ""},
		{"HostName=h;DeviceId=d;x509=true;SharedAccessKey=" + testKey, "SharedAccessKey"},
		{"HostName=h;DeviceId=d;x509=yes", "x509"},
		{"HostName=h;DeviceId=d;x509=false", "SharedAccessKey"},
		{"DeviceId=d;SharedAccessKey=" + testKey, "HostName"},
		{"HostName=h;SharedAccessKey=" + testKey, "DeviceId"},
		{"HostName=h;DeviceId=d", "SharedAccessKey"},
		{"HostName=h;DeviceId=d;SharedAccessKey=not!base64", "SharedAccessKey"},
		{"HostName=h;SharedAccessKeyName=p;SharedAccessKey=" + testKey, "SharedAccessKeyName"},
		{"HostName=h;DeviceId=d;DeviceId=e;SharedAccessKey=" + testKey, "DeviceId"},
		{"HostName=h;DeviceId=d;SharedAccessKey=" + testKey + ";Foo=bar", "field 4"},
		{"HostName=h.example.com;DeviceId=d;SharedAccessKey=" + testKey + ";UseDevelopmentEmulator=true", "UseDevelopmentEmulator"},
	} {
		_, err := ParseDeviceConnectionString(tc.in)
		var ce *ConnectionStringError
		require.ErrorAs(t, err, &ce, tc.in)
		assert.Equal(t, tc.field, ce.Field, tc.in)
		assert.NotContains(t, err.Error(), testKey)
	}
}

func FuzzParseDeviceConnectionString(f *testing.F) {
	f.Add("HostName=myhub.azure-devices.net;DeviceId=d1;SharedAccessKey=" + testKey)
	f.Add("HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=" + testKey + ";GatewayHostName=g")
	f.Add(";;HostName=;=;DeviceId")
	f.Add("HostName=h;DeviceId=d;x509=true")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDeviceConnectionString(s)
		if err != nil {
			return
		}
		require.NotEmpty(t, d.DeviceID)
		if d.X509 {
			require.True(t, d.SharedAccessKey.IsZero(), "an X.509 identity holds no key")
			require.Contains(t, d.String(), "x509=true")
			return
		}
		require.Contains(t, d.String(), "SharedAccessKey=<redacted>")
		require.NotContains(t, d.String(), "SharedAccessKey="+d.SharedAccessKey.Reveal()+";")
	})
}
