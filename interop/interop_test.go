//go:build interop

package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

// nodeDir is the Node package of the suites (interop/node).
const nodeDir = "node"

// hub is an emulator in standard-ports mode on localhost, with its CA in a
// file for NODE_EXTRA_CA_CERTS.
type hub struct {
	*emulator.Emulator
	caFile string
}

func startHub(t *testing.T, seeds ...emulator.DeviceSeed) *hub {
	t.Helper()
	return startHubWith(t, &emulator.Options{Devices: seeds})
}

// startHubWith starts the emulator on the standard ports with opts
// (StandardPorts is set).
func startHubWith(t *testing.T, opts *emulator.Options) *hub {
	t.Helper()
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "azure-iothub")); err != nil {
		t.Fatalf("the suite's Node packages are missing; run: (cd interop/node && npm ci): %v", err)
	}
	o := *opts
	o.StandardPorts = true
	e, err := emulator.Start(context.Background(), &o)
	require.NoError(t, err, "the interop suite needs ports 443, 5671 and 8883 on localhost (root, or CAP_NET_BIND_SERVICE)")
	t.Cleanup(e.Close)
	ca := filepath.Join(t.TempDir(), "emulator-ca.pem")
	require.NoError(t, os.WriteFile(ca, e.CACertPEM(), 0o644))
	return &hub{Emulator: e, caFile: ca}
}

// runNode runs one phase of suite.js and turns each line it prints into a
// passed or failed check of t.
func (h *hub) runNode(t *testing.T, phase string, expect any, extraEnv ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "suite.js", phase)
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+h.caFile,
		"IOTHUB_CONNECTION_STRING="+h.ConnectionString(),
		"EVENTHUB_CONNECTION_STRING="+h.EventHubConnectionString(),
	)
	if expect != nil {
		raw, err := json.Marshal(expect)
		require.NoError(t, err)
		cmd.Env = append(cmd.Env, "EXPECT="+string(raw))
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	checks := 0
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok - "):
			checks++
			t.Log(line)
		case strings.HasPrefix(line, "not ok - "):
			checks++
			t.Error(line)
		default:
			t.Log("node: " + line)
		}
	}
	err = cmd.Wait()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Log("node stderr: " + s)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Errorf("node suite.js %s exited with %d", phase, exit.ExitCode())
	} else {
		require.NoError(t, err)
	}
	assert.Positive(t, checks, "the phase ran no checks")
}

// TestNodeServiceSDK runs azure-iothub's Registry and Client, and
// @azure/event-hubs' EventHubConsumerClient, against the emulator.
func TestNodeServiceSDK(t *testing.T) {
	h := startHub(t,
		emulator.DeviceSeed{DeviceID: "c2d-device"},
		emulator.DeviceSeed{DeviceID: "method-device"},
		emulator.DeviceSeed{DeviceID: "offline-device"},
		emulator.DeviceSeed{DeviceID: "file-device"},
		emulator.DeviceSeed{DeviceID: "tele-1"},
		emulator.DeviceSeed{DeviceID: "tele-2"},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	t.Run("registry", func(t *testing.T) { h.runNode(t, "registry", nil) })

	// The devices the service client talks to.
	c2dDev := connect(t, h, "c2d-device")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // completes every C2D message, so the hub sends Success feedback
		defer wg.Done()
		for {
			m, err := c2dDev.ReceiveC2D(ctx)
			if err != nil {
				return
			}
			_ = m.Complete(ctx)
		}
	}()
	defer wg.Wait()
	defer cancel()
	methodDev := connect(t, h, "method-device")
	methodDev.HandleMethod("echo", func(_ context.Context, payload json.RawMessage) (int, any) {
		return 200, map[string]json.RawMessage{"echo": payload}
	})
	fileDev := connect(t, h, "file-device")
	require.NoError(t, fileDev.UploadFile(ctx, "report.csv", make([]byte, 1234)))
	devices := map[string]string{
		"c2dDevice": "c2d-device", "methodDevice": "method-device", "offlineDevice": "offline-device",
		"fileDevice": "file-device", "fileBlob": "report.csv",
	}
	t.Run("client", func(t *testing.T) { h.runNode(t, "client", devices) })
	t.Run("client over WebSockets", func(t *testing.T) { h.runNode(t, "client-ws", devices) })

	type event struct {
		Body        string            `json:"body"`
		DeviceID    string            `json:"deviceId"`
		Properties  map[string]string `json:"properties"`
		MessageID   string            `json:"messageId,omitempty"`
		ContentType string            `json:"contentType,omitempty"`
	}
	var events []event
	for i, id := range []string{"tele-1", "tele-2", "tele-1", "tele-2", "tele-1"} {
		events = append(events, event{
			Body: fmt.Sprintf(`{"n":%d,"from":"%s"}`, i, id), DeviceID: id,
			Properties: map[string]string{"seq": fmt.Sprint(i), "kind": "interop"},
			MessageID:  fmt.Sprintf("msg-%d", i), ContentType: "application/json",
		})
	}
	for _, id := range []string{"tele-1", "tele-2"} {
		d := connect(t, h, id)
		for _, ev := range events {
			if ev.DeviceID != id {
				continue
			}
			require.NoError(t, d.SendTelemetry(ctx, []byte(ev.Body), &emulator.TelemetryOptions{
				Properties: ev.Properties, MessageID: ev.MessageID, ContentType: ev.ContentType,
			}))
		}
	}
	t.Run("event hubs", func(t *testing.T) {
		h.runNode(t, "eventhubs", map[string]any{"events": events, "partitions": len(h.PartitionIDs())})
	})
}

// connect connects the simulated device id, disconnecting it at the end.
func connect(t *testing.T, h *hub, id string) *emulator.SimulatedDevice {
	t.Helper()
	d, err := h.Device(id)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, d.Connect(ctx))
	t.Cleanup(d.Disconnect)
	return d
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// TestNodeCheckpointsInterop moves checkpoints between the official Event
// Hubs processor (EventHubConsumerClient with BlobCheckpointStore) and this
// SDK's eventhub.Processor with checkpoints.BlobStore, both ways, through
// one container in Azurite: each reads exactly the events after the other's
// checkpoints.
func TestNodeCheckpointsInterop(t *testing.T) {
	endpoint := os.Getenv("IOTHUB_AZURITE_BLOB_ENDPOINT")
	if endpoint == "" {
		t.Fatal("IOTHUB_AZURITE_BLOB_ENDPOINT is not set; run: eval \"$(bash scripts/azurite.sh start)\"")
	}
	h := startHub(t, emulator.DeviceSeed{DeviceID: "cp-1"}, emulator.DeviceSeed{DeviceID: "cp-2"}, emulator.DeviceSeed{DeviceID: "cp-3"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	containerName := fmt.Sprintf("interop-%d", time.Now().UnixNano())
	cc := azuriteContainer(t, endpoint, containerName)
	nodeEnv := []string{
		"AZURITE_CONNECTION_STRING=" + azuriteConnectionString(endpoint),
		"CHECKPOINT_CONTAINER=" + containerName,
	}
	devices := []*emulator.SimulatedDevice{connect(t, h, "cp-1"), connect(t, h, "cp-2"), connect(t, h, "cp-3")}
	batch := func(name string) []string {
		var bodies []string
		for i := 0; i < 12; i++ {
			body := fmt.Sprintf("%s-%02d", name, i)
			require.NoError(t, devices[i%len(devices)].SendTelemetry(ctx, []byte(body), nil))
			bodies = append(bodies, body)
		}
		return bodies
	}

	a := batch("a")
	t.Run("Node reads and checkpoints", func(t *testing.T) {
		h.runNode(t, "checkpoint-write", map[string]any{"bodies": a}, nodeEnv...)
	})
	b := batch("b")
	t.Run("Go resumes after Node's checkpoints", func(t *testing.T) {
		got := runProcessor(ctx, t, h, cc, len(b))
		assert.Equal(t, sorted(b), sorted(got), "exactly the events after Node's checkpoints")
	})
	c := batch("c")
	t.Run("Node resumes after Go's checkpoints", func(t *testing.T) {
		h.runNode(t, "checkpoint-resume", map[string]any{"bodies": c}, nodeEnv...)
	})
}
