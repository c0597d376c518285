package emulator_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
)

// deviceCert makes a self-signed client certificate valid from notBefore
// to notAfter, with its SHA-1 and SHA-256 thumbprints (upper-case hex, as
// the portal shows them).
func deviceCert(t *testing.T, cn string, notBefore, notAfter time.Time) (cert tls.Certificate, sha1Hex, sha256Hex string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	s1, s256 := sha1.Sum(der), sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		strings.ToUpper(hex.EncodeToString(s1[:])), strings.ToUpper(hex.EncodeToString(s256[:]))
}

// x509Hub is a TLS emulator (client certificates travel in the TLS
// handshake) with its registry client.
func x509Hub(t *testing.T) (*emulator.Emulator, *registry.Client) {
	t.Helper()
	e, err := emulator.Start(context.Background(), &emulator.Options{TLS: true, Devices: []emulator.DeviceSeed{{DeviceID: "sas-device", PrimaryKey: deviceKey}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), &iothub.ClientOptions{TLSConfig: e.TLSConfig()})
	require.NoError(t, err)
	return e, reg
}

// tlsConnect opens a TLS connection presenting certs and sends a CONNECT
// without a password; it returns the CONNACK's return code.
func tlsConnect(t *testing.T, e *emulator.Emulator, certs []tls.Certificate, clientID string) byte {
	t.Helper()
	cfg := e.TLSConfig()
	cfg.Certificates = certs
	nc, err := tls.Dial("tcp", e.HostName(), cfg)
	require.NoError(t, err)
	deviceID, moduleID, _ := strings.Cut(clientID, "/")
	user := e.HostName() + "/" + deviceID + "/"
	if moduleID != "" {
		user += moduleID + "/"
	}
	return connectOn(t, nc, 4, clientID, user+"?api-version=2021-04-12", "", 60)
}

// TestMQTTX509 checks thumbprint authentication: a selfSigned device or
// module connects with no password when the TLS client certificate has
// its primary or secondary thumbprint, SHA-1 or SHA-256, in any case; any
// other certificate, an expired one, none, or a certificate for a SAS or
// CA-signed identity gets CONNACK 5, as IoT Hub answers.
func TestMQTTX509(t *testing.T) {
	t.Parallel()
	e, reg := x509Hub(t)
	ctx := context.Background()
	now := time.Now()
	certA, sha1A, sha256A := deviceCert(t, "x-primary", now.Add(-time.Hour), now.Add(time.Hour))
	certB, _, sha256B := deviceCert(t, "x-secondary", now.Add(-time.Hour), now.Add(time.Hour))
	stranger, _, _ := deviceCert(t, "x-primary", now.Add(-time.Hour), now.Add(time.Hour))
	expired, sha1Expired, _ := deviceCert(t, "x-expired", now.Add(-2*time.Hour), now.Add(-time.Hour))
	notYet, sha1NotYet, _ := deviceCert(t, "x-later", now.Add(time.Hour), now.Add(2*time.Hour))

	selfSigned := func(primary, secondary string) *registry.Authentication {
		return &registry.Authentication{Type: registry.AuthSelfSigned, X509Thumbprint: &registry.X509Thumbprint{PrimaryThumbprint: primary, SecondaryThumbprint: secondary}}
	}
	for id, a := range map[string]*registry.Authentication{
		"x-primary":   selfSigned(sha1A, ""),
		"x-secondary": selfSigned(strings.Repeat("0", 40), strings.ToLower(sha256B)),
		"x-expired":   selfSigned(sha1Expired, ""),
		"x-later":     selfSigned(sha1NotYet, ""),
		"x-ca":        {Type: registry.AuthCertificateAuthority},
	} {
		_, err := reg.CreateDevice(ctx, &registry.Device{DeviceID: id, Authentication: a})
		require.NoError(t, err, id)
	}
	_, err := reg.CreateModule(ctx, &registry.Module{DeviceID: "x-primary", ModuleID: "m1", Authentication: selfSigned(sha256A, "")})
	require.NoError(t, err)

	cases := []struct {
		name   string
		certs  []tls.Certificate
		client string
		want   byte
	}{
		{"primary SHA-1 thumbprint", []tls.Certificate{certA}, "x-primary", 0},
		{"secondary SHA-256 thumbprint, lower case", []tls.Certificate{certB}, "x-secondary", 0},
		{"a module by SHA-256", []tls.Certificate{certA}, "x-primary/m1", 0},
		{"another certificate with the same name", []tls.Certificate{stranger}, "x-primary", 5},
		{"another device's certificate", []tls.Certificate{certB}, "x-primary", 5},
		{"expired certificate", []tls.Certificate{expired}, "x-expired", 5},
		{"certificate not yet valid", []tls.Certificate{notYet}, "x-later", 5},
		{"no certificate, no password", nil, "x-primary", 5},
		{"a SAS device with a certificate", []tls.Certificate{certA}, "sas-device", 5},
		{"a CA-signed device", []tls.Certificate{certA}, "x-ca", 5},
		{"an unknown device", []tls.Certificate{certA}, "ghost", 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tlsConnect(t, e, tc.certs, tc.client))
		})
	}

	t.Run("a SAS token still works on a connection with a certificate", func(t *testing.T) {
		cfg := e.TLSConfig()
		cfg.Certificates = []tls.Certificate{certA}
		opts := mqttOptions(e, "sas-device", deviceToken(t, e, "sas-device", deviceKey, time.Hour)).SetTLSConfig(cfg)
		opts.Servers = nil
		opts.AddBroker("ssl://" + e.HostName())
		c := connectMQTT(t, opts)
		wait(t, c.Publish("devices/sas-device/messages/events/", 1, false, "sas"))
	})
}

// TestMQTTX509Device runs an X.509 device over MQTTS and over MQTT on
// WebSockets (the certificate in the WebSocket's TLS handshake): it is
// connected, answers a method and sends telemetry the service reads as
// its own.
func TestMQTTX509Device(t *testing.T) {
	t.Parallel()
	e, reg := x509Hub(t)
	ctx := context.Background()
	cert, sha1Hex, _ := deviceCert(t, "x509-dev", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	_, err := reg.CreateDevice(ctx, &registry.Device{DeviceID: "x509-dev", Authentication: &registry.Authentication{
		Type: registry.AuthSelfSigned, X509Thumbprint: &registry.X509Thumbprint{PrimaryThumbprint: sha1Hex}}})
	require.NoError(t, err)
	mc, err := methods.NewClientFromConnectionString(e.ConnectionString(), &iothub.ClientOptions{TLSConfig: e.TLSConfig()})
	require.NoError(t, err)

	brokers := []string{"ssl://" + e.HostName(), "wss://" + e.HostName() + "/$iothub/websocket"}
	for _, broker := range brokers {
		cfg := e.TLSConfig()
		cfg.Certificates = []tls.Certificate{cert}
		opts := mqttOptions(e, "x509-dev", "").SetTLSConfig(cfg)
		opts.Servers = nil
		opts.AddBroker(broker)
		c := connectMQTT(t, opts)
		dev, err := reg.GetDevice(ctx, "x509-dev")
		require.NoError(t, err)
		assert.Equal(t, registry.Connected, dev.ConnectionState, broker)
		wait(t, c.Subscribe("$iothub/methods/POST/#", 0, func(c mqtt.Client, m mqtt.Message) {
			rid := m.Topic()[strings.Index(m.Topic(), "$rid=")+5:]
			c.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, `{"x509":true}`)
		}))
		resp, err := mc.Invoke(ctx, "x509-dev", &methods.Request{MethodName: "who", ResponseTimeout: 5 * time.Second})
		require.NoError(t, err, broker)
		assert.JSONEq(t, `{"x509":true}`, string(resp.Payload))
		wait(t, c.Publish("devices/x509-dev/messages/events/", 1, false, broker))
		c.Disconnect(50)
	}
	var bodies []string
	for _, ev := range readEvents(t, e, len(brokers)) {
		assert.Equal(t, "x509-dev", ev.DeviceID)
		bodies = append(bodies, string(ev.Body))
	}
	assert.ElementsMatch(t, brokers, bodies)
}
