//go:build interop

package interop_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

const nodeDeviceKey = "bm9kZS1kZXZpY2Uta2V5LW5vZGUtZGV2aWNlLWtleQ=="

// nodeDevice is device.js running in a child process.
type nodeDevice struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startNodeDevice starts device.js for a device whose key is
// nodeDeviceKey.
func startNodeDevice(t *testing.T, h *hub, deviceID, transport string) *nodeDevice {
	t.Helper()
	return startNodeDeviceWith(t, h, "HostName="+h.HostName()+";DeviceId="+deviceID+";SharedAccessKey="+nodeDeviceKey, transport)
}

// startNodeDeviceWith starts device.js with a device connection string
// and more environment variables (NAME=value).
func startNodeDeviceWith(t *testing.T, h *hub, connectionString, transport string, env ...string) *nodeDevice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "node", "device.js")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+h.caFile,
		"DEVICE_CONNECTION_STRING="+connectionString,
		"TRANSPORT="+transport,
	)
	cmd.Env = append(cmd.Env, env...)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	d := &nodeDevice{t: t, cmd: cmd, in: in, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "exit\n")
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return d
}

// await reads lines until one starts with kind, failing on "error" lines.
func (d *nodeDevice) await(kind string) string {
	d.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-d.lines:
			if !ok {
				d.t.Fatalf("device.js ended while waiting for %q", kind)
			}
			d.t.Log("node device: " + line)
			if strings.HasPrefix(line, "error") {
				d.t.Errorf("node device: %s", line)
				continue
			}
			if v, ok := strings.CutPrefix(line, kind); ok {
				return strings.TrimSpace(v)
			}
		case <-timeout:
			d.t.Fatalf("device.js did not print %q within 60 s", kind)
		}
	}
}

// awaitAll reads lines until one of each kind came, in any order, and
// returns what followed each kind.
func (d *nodeDevice) awaitAll(kinds ...string) map[string]string {
	d.t.Helper()
	got := map[string]string{}
	timeout := time.After(60 * time.Second)
	for len(got) < len(kinds) {
		select {
		case line, ok := <-d.lines:
			if !ok {
				d.t.Fatalf("device.js ended while waiting for %q", kinds)
			}
			d.t.Log("node device: " + line)
			if strings.HasPrefix(line, "error") {
				d.t.Errorf("node device: %s", line)
			}
			for _, k := range kinds {
				if v, ok := strings.CutPrefix(line, k); ok {
					got[k] = strings.TrimSpace(v)
				}
			}
		case <-timeout:
			d.t.Fatalf("device.js did not print all of %q within 60 s", kinds)
		}
	}
	return got
}

func (d *nodeDevice) send(command string) {
	d.t.Helper()
	_, err := io.WriteString(d.in, command+"\n")
	require.NoError(d.t, err)
}

// TestNodeDeviceSDK runs the official Node.js device SDK over MQTT, MQTT
// over WebSockets, AMQP and AMQP over WebSockets against the emulator on
// the standard ports, and drives it with this SDK's service clients:
// telemetry read by eventhub.Consumer, a direct method, C2D with full
// feedback (and, where the protocol has them, reject and abandon),
// reported and desired properties, and a reconnect (MQTT: CleanSession 0,
// the SDK's default) that gets the C2D message sent while the device was
// away.
func TestNodeDeviceSDK(t *testing.T) {
	transports := []string{"mqtt", "mqttws", "amqp", "amqpws"}
	var seeds []emulator.DeviceSeed
	for _, tr := range transports {
		seeds = append(seeds, emulator.DeviceSeed{DeviceID: "node-" + tr, PrimaryKey: nodeDeviceKey})
	}
	h := startHub(t, seeds...)
	opts := &iothub.ClientOptions{TLSConfig: h.TLSConfig()}
	mc, err := methods.NewClientFromConnectionString(h.ConnectionString(), opts)
	require.NoError(t, err)
	tc, err := twin.NewClientFromConnectionString(h.ConnectionString(), opts)
	require.NoError(t, err)
	cc, err := c2d.NewClientFromConnectionString(h.ConnectionString(), &c2d.ClientOptions{ClientOptions: *opts})
	require.NoError(t, err)
	defer cc.Close(context.Background())
	consumer, err := eventhub.NewConsumerFromConnectionString(h.ConnectionString(), &eventhub.ConsumerOptions{TLSConfig: h.TLSConfig()})
	require.NoError(t, err)
	defer consumer.Close(context.Background())

	for _, transport := range transports {
		id := "node-" + transport
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			d := startNodeDevice(t, h, id, transport)
			d.await("ready")

			t.Run("telemetry with its properties", func(t *testing.T) {
				ev := findEvent(ctx, t, consumer, h, id)
				assert.JSONEq(t, `{"temperature":21.5}`, string(ev.Body))
				assert.Equal(t, "node-telemetry-1", ev.MessageID)
				assert.Equal(t, "node-corr-1", ev.CorrelationID)
				assert.Equal(t, "application/json", ev.ContentType)
				assert.Equal(t, "utf-8", ev.ContentEncoding)
				assert.Equal(t, "node device", ev.Properties["source"])
				assert.Equal(t, "true", ev.Properties["alert"])
			})
			t.Run("direct method", func(t *testing.T) {
				resp, err := mc.Invoke(ctx, id, &methods.Request{MethodName: "echo", Payload: json.RawMessage(`{"n":1}`), ResponseTimeout: 10 * time.Second})
				require.NoError(t, err)
				assert.Equal(t, 200, resp.Status)
				assert.JSONEq(t, `{"echo":{"n":1},"method":"echo"}`, string(resp.Payload))
			})
			t.Run("reported properties", func(t *testing.T) {
				tw, err := tc.Get(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, "1.0", tw.Properties.Reported["firmware"])
				assert.Equal(t, transport, tw.Properties.Reported["transport"])
				assert.Equal(t, "Connected", tw.ConnectionState)
			})
			t.Run("desired properties", func(t *testing.T) {
				_, err := tc.Update(ctx, id, &twin.Patch{Desired: map[string]any{"color": "blue"}})
				require.NoError(t, err)
				var desired map[string]any
				require.NoError(t, json.Unmarshal([]byte(d.await("desired")), &desired))
				assert.Equal(t, "blue", desired["color"])
			})
			t.Run("C2D with full feedback", func(t *testing.T) {
				msgID := "c2d-" + transport
				require.NoError(t, cc.Send(ctx, id, &c2d.Message{Body: []byte("hello device"), MessageID: msgID, CorrelationID: "k", Ack: c2d.AckFull, Properties: map[string]string{"p": "v"}}))
				var got struct {
					Body, MessageID, CorrelationID string
					Props                          map[string]string
				}
				require.NoError(t, json.Unmarshal([]byte(d.await("c2d")), &got))
				assert.Equal(t, "hello device", got.Body)
				assert.Equal(t, msgID, got.MessageID)
				assert.Equal(t, "k", got.CorrelationID)
				assert.Equal(t, "v", got.Props["p"])
				assertFeedback(ctx, t, cc, msgID, c2d.StatusSuccess)
			})
			if strings.HasPrefix(transport, "amqp") { // MQTT has no reject or abandon
				t.Run("C2D reject and abandon", func(t *testing.T) {
					assertRejectAndAbandon(ctx, t, cc, d, id)
				})
			}
			t.Run("reconnect gets what was sent while away", func(t *testing.T) {
				d.send("close")
				d.await("closed")
				require.NoError(t, cc.Send(ctx, id, &c2d.Message{Body: []byte("while away")}))
				d.send("open")
				// The message may come before the SDK reports the open.
				lines := d.awaitAll("opened", "c2d")
				var got struct{ Body string }
				require.NoError(t, json.Unmarshal([]byte(lines["c2d"]), &got))
				assert.Equal(t, "while away", got.Body)
			})
		})
	}
}

// assertRejectAndAbandon sends device.js a message it rejects, which ends
// in Rejected feedback, and one it abandons, which comes back with the
// same message id, is completed and ends in Success.
func assertRejectAndAbandon(ctx context.Context, t *testing.T, cc *c2d.Client, d *nodeDevice, id string) {
	t.Helper()
	type seen struct{ MessageID, Settle string }
	rej, ab := "reject-"+id, "abandon-"+id
	require.NoError(t, cc.Send(ctx, id, &c2d.Message{Body: []byte("no"), MessageID: rej, Ack: c2d.AckFull, Properties: map[string]string{"settle": "reject"}}))
	var got seen
	require.NoError(t, json.Unmarshal([]byte(d.await("c2d")), &got))
	assert.Equal(t, seen{rej, "reject"}, got)
	assertFeedback(ctx, t, cc, rej, c2d.StatusRejected)

	require.NoError(t, cc.Send(ctx, id, &c2d.Message{Body: []byte("later"), MessageID: ab, Ack: c2d.AckFull, Properties: map[string]string{"settle": "abandon"}}))
	require.NoError(t, json.Unmarshal([]byte(d.await("c2d")), &got))
	assert.Equal(t, seen{ab, "abandon"}, got)
	require.NoError(t, json.Unmarshal([]byte(d.await("c2d")), &got))
	assert.Equal(t, seen{ab, "complete"}, got, "an abandoned message comes back")
	assertFeedback(ctx, t, cc, ab, c2d.StatusSuccess)
}

// findEvent reads the built-in endpoint from the start for the first
// event of deviceID.
func findEvent(ctx context.Context, t *testing.T, c *eventhub.Consumer, h *hub, deviceID string) *eventhub.Event {
	t.Helper()
	for _, pid := range h.PartitionIDs() {
		r, err := c.NewPartitionReceiver(pid, &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
		require.NoError(t, err)
		for {
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			evs, err := r.Receive(short, 100)
			cancel()
			if err != nil || len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if ev.DeviceID == deviceID {
					_ = r.Close(ctx)
					return ev
				}
			}
		}
		_ = r.Close(ctx)
	}
	t.Fatalf("no event of %s", deviceID)
	return nil
}

func assertFeedback(ctx context.Context, t *testing.T, cc *c2d.Client, msgID string, want c2d.FeedbackStatus) {
	t.Helper()
	fctx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	var found *c2d.FeedbackRecord
	_ = cc.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		for i := range b.Records {
			if b.Records[i].OriginalMessageID == msgID {
				found = &b.Records[i]
				stop()
			}
		}
		return nil
	})
	require.NotNil(t, found, fmt.Sprintf("feedback for %s", msgID))
	assert.Equal(t, want, found.StatusCode)
}

// TestNodeDeviceX509 connects the official Node.js device SDK with an
// X.509 certificate (x509=true, the certificate and key given to
// setOptions) to devices registered with its thumbprint — SHA-1 as the
// primary over TCP, SHA-256 as the secondary over WebSockets — over MQTT,
// MQTT over WebSockets, AMQP and AMQP over WebSockets (no token at all),
// and checks the hub knows who they are: their telemetry is theirs and
// they answer direct methods.
func TestNodeDeviceX509(t *testing.T) {
	h := startHub(t)
	opts := &iothub.ClientOptions{TLSConfig: h.TLSConfig()}
	reg, err := registry.NewClientFromConnectionString(h.ConnectionString(), opts)
	require.NoError(t, err)
	mc, err := methods.NewClientFromConnectionString(h.ConnectionString(), opts)
	require.NoError(t, err)
	consumer, err := eventhub.NewConsumerFromConnectionString(h.ConnectionString(), &eventhub.ConsumerOptions{TLSConfig: h.TLSConfig()})
	require.NoError(t, err)
	defer consumer.Close(context.Background())

	for _, transport := range []string{"mqtt", "mqttws", "amqp", "amqpws"} {
		id := "node-x509-" + transport
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			certPEM, keyPEM, der := selfSignedCert(t, id)
			sha1Sum, sha256Sum := sha1.Sum(der), sha256.Sum256(der)
			thumb := &registry.X509Thumbprint{PrimaryThumbprint: strings.ToUpper(hex.EncodeToString(sha1Sum[:]))}
			if strings.HasSuffix(transport, "ws") {
				thumb = &registry.X509Thumbprint{PrimaryThumbprint: strings.Repeat("AB", 20), SecondaryThumbprint: hex.EncodeToString(sha256Sum[:])}
			}
			_, err := reg.CreateDevice(ctx, &registry.Device{DeviceID: id, Authentication: &registry.Authentication{Type: registry.AuthSelfSigned, X509Thumbprint: thumb}})
			require.NoError(t, err)
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
			require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))

			d := startNodeDeviceWith(t, h, "HostName="+h.HostName()+";DeviceId="+id+";x509=true", transport,
				"X509_CERT_FILE="+certFile, "X509_KEY_FILE="+keyFile)
			d.await("ready")
			ev := findEvent(ctx, t, consumer, h, id)
			assert.JSONEq(t, `{"temperature":21.5}`, string(ev.Body))
			resp, err := mc.Invoke(ctx, id, &methods.Request{MethodName: "echo", Payload: json.RawMessage(`{"x509":true}`), ResponseTimeout: 10 * time.Second})
			require.NoError(t, err)
			assert.Equal(t, 200, resp.Status)
			assert.JSONEq(t, `{"echo":{"x509":true},"method":"echo"}`, string(resp.Payload))
		})
	}
}

// selfSignedCert makes a device certificate as a self-signed X.509
// device has one: its common name the device id.
func selfSignedCert(t *testing.T, cn string) (certPEM, keyPEM, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), der
}
