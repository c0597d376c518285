package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/registry"
)

// writeDeviceCert writes a self-signed device certificate and its key as
// PEM files and returns their paths and the SHA-1 thumbprint.
func writeDeviceCert(t *testing.T, cn string) (certFile, keyFile, thumbprint string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+".key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600))
	sum := sha1.Sum(der)
	return certFile, keyFile, hex.EncodeToString(sum[:])
}

// TestSimulateX509 plays an X.509 device (x509=true, --cert, --key)
// against a TLS emulator over MQTT, AMQP and HTTPS: it connects with its
// certificate and its telemetry arrives as its own. Certificates that do not pair up with the
// X.509 devices, and an X.509 device over plain TCP, are refused before
// anything connects.
func TestSimulateX509(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{TLS: true})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, e.CACertPEM(), 0o644))
	opts := &iothub.ClientOptions{TLSConfig: e.TLSConfig()}
	reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), opts)
	require.NoError(t, err)
	certFile, keyFile, thumb := writeDeviceCert(t, "cam-1")
	_, err = reg.CreateDevice(context.Background(), &registry.Device{DeviceID: "cam-1", Authentication: &registry.Authentication{
		Type: registry.AuthSelfSigned, X509Thumbprint: &registry.X509Thumbprint{PrimaryThumbprint: thumb}}})
	require.NoError(t, err)
	dcs := "HostName=" + e.HostName() + ";DeviceId=cam-1;x509=true"

	for _, transport := range []string{"mqtt", "amqp", "https"} {
		r := cli(t, "", "", "--ca-file", ca, "simulate", "--transport", transport, "--device-connection-string", dcs, "--cert", certFile, "--key", keyFile, "--rate", "50/s", "--count", "2")
		require.Equal(t, 0, r.code, transport+": "+r.stderr)
		assert.Contains(t, r.stdout, "telemetry 2", transport)
	}

	consumer, err := eventhub.NewConsumerFromConnectionString(e.ConnectionString(), &eventhub.ConsumerOptions{TLSConfig: e.TLSConfig()})
	require.NoError(t, err)
	defer consumer.Close(context.Background())
	n := 0
	for _, pid := range e.PartitionIDs() {
		rcv, err := consumer.NewPartitionReceiver(pid, &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
		require.NoError(t, err)
		short, stop := context.WithTimeout(context.Background(), 500*time.Millisecond)
		evs, _ := rcv.Receive(short, 10)
		stop()
		_ = rcv.Close(context.Background())
		for _, ev := range evs {
			assert.Equal(t, "cam-1", ev.DeviceID)
			n++
		}
	}
	assert.Equal(t, 6, n, "two events over each transport")

	for _, args := range [][]string{
		{"--device-connection-string", dcs},
		{"--device-connection-string", dcs, "--cert", certFile},
		{"--device-connection-string", dcs, "--cert", certFile, "--key", keyFile, "--cert", certFile, "--key", keyFile},
		{"--device-connection-string", dcs, "--cert", certFile, "--key", certFile},
		{"--device-connection-string", "HostName=127.0.0.1:1;DeviceId=cam-1;x509=true;UseDevelopmentEmulator=true", "--cert", certFile, "--key", keyFile},
	} {
		r := cli(t, "", "", append([]string{"--ca-file", ca, "simulate"}, args...)...)
		assert.Equal(t, 1, r.code, args)
		assert.NotEmpty(t, r.stderr, args)
	}
}
