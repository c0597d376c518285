//go:build interop

package interop_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
)

// tlsAzurite is an Azurite blob service serving HTTPS with a certificate
// of a CA made for the test: the official device SDKs upload files to
// https://{hostName}/… only.
type tlsAzurite struct {
	endpoint string // https://127.0.0.1:PORT/devstoreaccount1
	caPEM    []byte
	client   *http.Client // trusts the CA
}

// startTLSAzurite runs the azurite-blob that scripts/azurite.sh installed
// (IOTHUB_AZURITE_BIN) on a free port with a fresh certificate.
func startTLSAzurite(t *testing.T) *tlsAzurite {
	t.Helper()
	bin := os.Getenv("IOTHUB_AZURITE_BIN")
	if bin == "" {
		if os.Getenv("IOTHUB_REQUIRE_AZURITE") != "" {
			t.Fatal(`IOTHUB_AZURITE_BIN is not set; run: eval "$(bash scripts/azurite.sh start)"`)
		}
		t.Skip(`file uploads need Azurite: eval "$(bash scripts/azurite.sh start)"`)
	}
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := testCA(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	// --loose: the SDK sends headers (x-ms-encryption-algorithm) strict Azurite refuses.
	cmd := exec.CommandContext(ctx, bin, "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose",
		"--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--cert", certFile, "--key", keyFile)
	cmd.Dir = dir
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.After(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("Azurite over HTTPS exited: %s", log.String())
		case <-deadline:
			t.Fatalf("Azurite over HTTPS did not listen within 30 s: %s", log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return &tlsAzurite{endpoint: "https://" + addr + "/" + azuriteAccount, caPEM: caPEM, client: client}
}

func (a *tlsAzurite) connectionString() string {
	return "DefaultEndpointsProtocol=https;AccountName=" + azuriteAccount + ";AccountKey=" + azuriteKey + ";BlobEndpoint=" + a.endpoint
}

// testCA makes a CA and a server certificate of it for 127.0.0.1.
func testCA(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "interop test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

// TestNodeDeviceHTTPAndUpload runs the official Node.js device SDK over
// HTTPS (azure-iot-device-http: telemetry, C2D completed, rejected and
// abandoned with their feedback), and its uploadToBlob of a 1 MB file over
// AMQP and HTTPS devices alike: the SDK asks the hub for a SAS, writes the
// blob into Azurite (over HTTPS), and reports it; our c2d client receives
// the file notification, and the blob in Azurite holds the same bytes.
func TestNodeDeviceHTTPAndUpload(t *testing.T) {
	az := startTLSAzurite(t)
	h := startHubWith(t, &emulator.Options{
		Devices: []emulator.DeviceSeed{
			{DeviceID: "node-http", PrimaryKey: nodeDeviceKey},
			{DeviceID: "node-upload-amqp", PrimaryKey: nodeDeviceKey},
		},
		FileUpload: &emulator.FileUploadOptions{StorageConnectionString: az.connectionString(), Container: "uploads", HTTPClient: az.client},
	})
	// Node trusts both the emulator's CA and the storage's.
	bundle := filepath.Join(t.TempDir(), "cas.pem")
	require.NoError(t, os.WriteFile(bundle, append(append([]byte{}, h.CACertPEM()...), az.caPEM...), 0o644))
	h.caFile = bundle

	opts := &iothub.ClientOptions{TLSConfig: h.TLSConfig()}
	cc, err := c2d.NewClientFromConnectionString(h.ConnectionString(), &c2d.ClientOptions{ClientOptions: *opts})
	require.NoError(t, err)
	defer cc.Close(context.Background())
	consumer, err := eventhub.NewConsumerFromConnectionString(h.ConnectionString(), &eventhub.ConsumerOptions{TLSConfig: h.TLSConfig()})
	require.NoError(t, err)
	defer consumer.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	http := startNodeDevice(t, h, "node-http", "http")
	http.await("ready")
	t.Run("https telemetry with its properties", func(t *testing.T) {
		ev := findEvent(ctx, t, consumer, h, "node-http")
		assert.JSONEq(t, `{"temperature":21.5}`, string(ev.Body))
		assert.Equal(t, "node-telemetry-1", ev.MessageID)
		assert.Equal(t, "node-corr-1", ev.CorrelationID)
		assert.Equal(t, "application/json", ev.ContentType)
		assert.Equal(t, "utf-8", ev.ContentEncoding)
		assert.Equal(t, "node device", ev.Properties["source"])
	})
	t.Run("https C2D with full feedback", func(t *testing.T) {
		require.NoError(t, cc.Send(ctx, "node-http", &c2d.Message{Body: []byte("hello http"), MessageID: "c2d-http", CorrelationID: "k", Ack: c2d.AckFull, Properties: map[string]string{"p": "v"}}))
		var got struct {
			Body, MessageID, CorrelationID string
			Props                          map[string]string
		}
		require.NoError(t, json.Unmarshal([]byte(http.await("c2d")), &got))
		assert.Equal(t, "hello http", got.Body)
		assert.Equal(t, "c2d-http", got.MessageID)
		assert.Equal(t, "k", got.CorrelationID)
		assert.Equal(t, "v", got.Props["p"])
		assertFeedback(ctx, t, cc, "c2d-http", c2d.StatusSuccess)
	})
	t.Run("https C2D reject and abandon", func(t *testing.T) {
		assertRejectAndAbandon(ctx, t, cc, http, "node-http")
	})

	amqpDev := startNodeDevice(t, h, "node-upload-amqp", "amqp")
	amqpDev.await("ready")
	container, err := azblob.NewClientWithSharedKeyCredential(az.endpoint, mustSharedKey(t), &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: az.client}})
	require.NoError(t, err)
	for _, d := range []struct {
		id  string
		dev *nodeDevice
	}{{"node-http", http}, {"node-upload-amqp", amqpDev}} {
		t.Run("uploadToBlob from "+d.id, func(t *testing.T) {
			data := make([]byte, 1<<20)
			_, _ = rand.Read(data)
			file := filepath.Join(t.TempDir(), "report.bin")
			require.NoError(t, os.WriteFile(file, data, 0o600))
			d.dev.send("upload report.bin " + file)
			d.dev.await("uploaded")

			n := awaitFileNotification(ctx, t, cc, d.id+"/report.bin")
			assert.Equal(t, d.id, n.DeviceID)
			assert.EqualValues(t, len(data), n.BlobSizeInBytes)
			assert.Equal(t, az.endpoint+"/uploads/"+d.id+"/report.bin", n.BlobURI)
			assert.WithinDuration(t, time.Now(), n.LastUpdatedTime, time.Minute)

			var got bytes.Buffer
			resp, err := container.DownloadStream(ctx, "uploads", d.id+"/report.bin", nil)
			require.NoError(t, err)
			_, err = got.ReadFrom(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.True(t, bytes.Equal(data, got.Bytes()), "the blob holds the bytes the device uploaded")
		})
	}
}

func mustSharedKey(t *testing.T) *azblob.SharedKeyCredential {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	require.NoError(t, err)
	return cred
}

// awaitFileNotification receives file notifications until the one for
// blobName.
func awaitFileNotification(ctx context.Context, t *testing.T, cc *c2d.Client, blobName string) *c2d.FileNotification {
	t.Helper()
	fctx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	var found *c2d.FileNotification
	_ = cc.ReceiveFileNotifications(fctx, func(_ context.Context, n *c2d.FileNotification) error {
		if n.BlobName == blobName {
			found = n
			stop()
		}
		return nil
	})
	require.NotNil(t, found, "a file notification for "+blobName)
	return found
}
