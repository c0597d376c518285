package emulator_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{TLS: true, Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	assert.True(t, strings.HasPrefix(h.e.URL(), "https://"))
	assert.NotContains(t, h.e.ConnectionString(), "UseDevelopmentEmulator")

	r := h.do(http.MethodGet, "/devices/d1", "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

	// A client that does not trust the emulator's CA fails.
	_, err := (&http.Client{Transport: &http.Transport{}}).Get(h.e.URL() + "/devices/d1")
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)

	// The CA is an ECDSA P-256 CA certificate.
	block, _ := pem.Decode(h.e.CACertPEM())
	require.NotNil(t, block)
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.True(t, ca.IsCA)
	pub, ok := ca.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok)
	assert.Equal(t, elliptic.P256(), pub.Curve)

	// The server certificate is valid for localhost too.
	cfg := h.e.TLSConfig()
	cfg.ServerName = "localhost"
	conn, err := tls.Dial("tcp", h.e.HostName(), cfg)
	require.NoError(t, err)
	leaf := conn.ConnectionState().PeerCertificates[0]
	assert.Contains(t, leaf.DNSNames, "localhost")
	assert.True(t, leaf.IPAddresses[0].IsLoopback())
	require.NoError(t, conn.Close())

	// A pool built from CACertPEM alone is enough, as for another process.
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(h.e.CACertPEM()))
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}).Get(h.e.URL() + "/devices/d1?" + apiVersion)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestPlainHasNoTLS(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	assert.Nil(t, h.e.TLSConfig())
	assert.Nil(t, h.e.CACertPEM())
	assert.True(t, strings.HasPrefix(h.e.URL(), "http://"))
	assert.True(t, strings.HasSuffix(h.e.ConnectionString(), ";UseDevelopmentEmulator=true"))
	_, err := (&http.Client{}).Get("https://" + h.e.HostName() + "/")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "server gave HTTP response to HTTPS client")
}
