//go:build interop

package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
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

func startNodeDevice(t *testing.T, h *hub, deviceID, transport string) *nodeDevice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "node", "device.js")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+h.caFile,
		"DEVICE_CONNECTION_STRING=HostName="+h.HostName()+";DeviceId="+deviceID+";SharedAccessKey="+nodeDeviceKey,
		"TRANSPORT="+transport,
	)
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

// TestNodeDeviceSDK runs the official Node.js device SDK over MQTT and MQTT
// over WebSockets against the emulator on the standard ports, and drives it
// with this SDK's service clients: telemetry read by eventhub.Consumer, a
// direct method, C2D with full feedback, reported and desired properties,
// and a reconnect (CleanSession 0, the SDK's default) that gets the C2D
// message sent while the device was away.
func TestNodeDeviceSDK(t *testing.T) {
	h := startHub(t, emulator.DeviceSeed{DeviceID: "node-mqtt", PrimaryKey: nodeDeviceKey}, emulator.DeviceSeed{DeviceID: "node-mqttws", PrimaryKey: nodeDeviceKey})
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

	for _, transport := range []string{"mqtt", "mqttws"} {
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
