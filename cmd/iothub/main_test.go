package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/twin"
)

type result struct {
	code           int
	stdout, stderr string
}

// cli runs the command in-process with cs as $IOTHUB_CONNECTION_STRING.
func cli(t *testing.T, cs, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, &env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string {
			if k == "IOTHUB_CONNECTION_STRING" {
				return cs
			}
			return ""
		},
	})
	return result{code, out.String(), errb.String()}
}

func hub(t *testing.T, devices ...emulator.DeviceSeed) *emulator.Emulator {
	t.Helper()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: devices})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e
}

func TestDeviceCommands(t *testing.T) {
	t.Parallel()
	e := hub(t)
	cs := e.ConnectionString()

	r := cli(t, cs, "", "device", "create", "d1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "d1")
	assert.Contains(t, r.stdout, "enabled")

	r = cli(t, cs, "", "device", "create", "d1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "409001 DeviceAlreadyExists")

	r = cli(t, cs, "", "-o", "json", "device", "show", "d1")
	require.Equal(t, 0, r.code, r.stderr)
	var d map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d))
	assert.Equal(t, "d1", d["deviceId"])
	key := d["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"]
	assert.Equal(t, "<hidden: --show-keys>", key, "keys are hidden by default")

	r = cli(t, cs, "", "-o", "json", "--show-keys", "device", "show", "d1")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d))
	assert.NotContains(t, d["authentication"].(map[string]any)["symmetricKey"].(map[string]any)["primaryKey"], "hidden")

	r = cli(t, cs, "", "device", "update", "d1", "--status", "disabled", "--reason", "stolen")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "disabled")

	r = cli(t, cs, "", "device", "create", "d2", "--edge")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "device", "list")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "d1")
	assert.Contains(t, r.stdout, "d2")
	assert.NotContains(t, r.stdout, "PRIMARY KEY")

	r = cli(t, cs, "", "device", "delete", "d2")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "device", "show", "d2")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "404001 DeviceNotFound")

	r = cli(t, cs, "", "device", "show", "bad id")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "ArgumentInvalid")
}

func TestDeviceImport(t *testing.T) {
	t.Parallel()
	e := hub(t, emulator.DeviceSeed{DeviceID: "exists"})
	cs := e.ConnectionString()

	var jsonl strings.Builder
	for i := range 150 {
		fmt.Fprintf(&jsonl, "{\"deviceId\":\"j%03d\"}\n", i)
	}
	r := cli(t, cs, jsonl.String(), "device", "import", "-", "--no-progress")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "imported 150 of 150")

	path := filepath.Join(t.TempDir(), "devices.csv")
	require.NoError(t, os.WriteFile(path, []byte("deviceId,status,edge\nc1,enabled,false\nc2,disabled,true\nexists,,\n"), 0o600))
	r = cli(t, cs, "", "device", "import", path)
	assert.Equal(t, 1, r.code, "a failed device fails the command")
	assert.Contains(t, r.stdout, "imported 2 of 3")
	assert.Contains(t, r.stdout, "failed exists")

	r = cli(t, cs, "", "stats")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `153\s+152\s+1\s+0`, r.stdout)

	r = cli(t, cs, "not json\n", "device", "import", "-")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "line 1")
	r = cli(t, cs, "status\nenabled\n", "device", "import", "-", "--format", "csv")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "deviceId column")
	r = cli(t, cs, "deviceId,colour\nx,red\n", "device", "import", "-", "--format", "csv")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, `unknown column "colour"`)

	// Every bad line is reported, with its number; by default nothing is
	// written.
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	csvFile := "deviceId,status,edge,primaryKey,secondaryKey\n" +
		"g1,enabled,false,,\n" + // 2: good
		"bad id,,,,\n" + // 3
		"g2,sleeping,,,\n" + // 4
		"g3,,maybe,,\n" + // 5
		"g4,,," + key + ",\n" + // 6: one key only
		"g5,,,not-a-key,not-a-key\n" + // 7
		"g1,,,,\n" + // 8: duplicate of line 2
		",,,,\n" + // 9
		"g6,disabled,true," + key + "," + key + "\n" // 10: good
	r = cli(t, cs, csvFile, "device", "import", "-", "--format", "csv", "--no-progress")
	assert.Equal(t, 1, r.code)
	for _, line := range []string{"line 3:", "line 4:", "line 5:", "line 6:", "line 7:", "line 8:", "line 9:"} {
		assert.Contains(t, r.stderr, line)
	}
	assert.NotContains(t, r.stderr, "line 2:")
	assert.NotContains(t, r.stderr, "line 10:")
	assert.NotContains(t, r.stderr, key, "keys are never echoed")
	assert.NotContains(t, r.stderr, "not-a-key", "nor what stood for them")
	assert.Contains(t, r.stderr, "7 of 9 lines are bad; nothing was imported")
	assert.Equal(t, 1, cli(t, cs, "", "device", "show", "g1").code, "nothing was written")

	// --continue-on-error writes the good lines and still fails.
	r = cli(t, cs, csvFile, "device", "import", "-", "--format", "csv", "--no-progress", "--continue-on-error")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "imported 2 of 2")
	r = cli(t, cs, "", "-o", "json", "--show-keys", "device", "show", "g6")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, key, "the keys of the file")
	assert.Contains(t, r.stdout, `"disabled"`)

	// Again, the devices exist: failures, unless --upsert.
	good := "deviceId,status\ng1,disabled\ng6,enabled\ng7,enabled\n"
	r = cli(t, cs, good, "device", "import", "-", "--format", "csv", "--no-progress")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "imported 1 of 3")
	r = cli(t, cs, good, "device", "import", "-", "--format", "csv", "--no-progress", "--upsert")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "imported 3 of 3")
	r = cli(t, cs, "", "-o", "json", "device", "show", "g1")
	assert.Contains(t, r.stdout, `"disabled"`, "updated")
}

// TestProgressOffATerminal: without a terminal, progress is a plain line
// at every tenth of the way, with no carriage returns.
func TestProgressOffATerminal(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := newProgress(&out, 1000, "importing")
	for done := 0; done <= 1000; done += 50 {
		p.set(done)
	}
	p.finish()
	assert.NotContains(t, out.String(), "\r")
	assert.Equal(t, 10, strings.Count(out.String(), "\n"), out.String())
	assert.Contains(t, out.String(), "importing: 1000 of 1000 (100%)")
	// At least every 10 s, however slow.
	var slow strings.Builder
	clock := time.Unix(0, 0)
	q := newProgress(&slow, 1000, "importing")
	q.now = func() time.Time { return clock }
	q.lastReport = clock
	q.set(1)
	clock = clock.Add(11 * time.Second)
	q.set(2)
	assert.Equal(t, "importing: 2 of 1000 (0%)\n", slow.String())
}

func TestModuleCommands(t *testing.T) {
	t.Parallel()
	e := hub(t, emulator.DeviceSeed{DeviceID: "edge"})
	cs := e.ConnectionString()
	r := cli(t, cs, "", "module", "create", "edge", "filter")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "module", "list", "edge")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "filter")
	r = cli(t, cs, "", "-o", "json", "module", "show", "edge", "filter")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"moduleId": "filter"`)
	assert.Contains(t, r.stdout, "<hidden: --show-keys>")
	r = cli(t, cs, "", "module", "delete", "edge", "filter")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "module", "show", "edge", "filter")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "404010 ModuleNotFound")
}

func TestTwinAndQueryCommands(t *testing.T) {
	t.Parallel()
	e := hub(t, emulator.DeviceSeed{DeviceID: "t1"}, emulator.DeviceSeed{DeviceID: "t2", Modules: []string{"m"}})
	cs := e.ConnectionString()

	r := cli(t, cs, "", "twin", "update", "t1", "--tags", `{"building":"43"}`, "--desired", `{"fan":"on"}`)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"building": "43"`)
	r = cli(t, cs, "", "twin", "update", "t1", "--tags", `[1]`)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--tags must be a JSON object")

	r = cli(t, cs, "", "twin", "show", "t1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"fan": "on"`)

	r = cli(t, cs, `{"tags":{"replaced":true},"properties":{"desired":{}}}`, "twin", "replace", "t1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"replaced": true`)
	assert.NotContains(t, r.stdout, `"building"`)

	r = cli(t, cs, "", "twin", "update", "t2", "--module", "m", "--desired", `{"x":1}`)
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "twin", "show", "t2", "--module", "m")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"moduleId": "m"`)

	r = cli(t, cs, "", "-o", "json", "query", "SELECT deviceId FROM devices", "--page-size", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "{\"deviceId\":\"t1\"}\n{\"deviceId\":\"t2\"}\n", r.stdout, "JSON Lines with -o json")
	r = cli(t, cs, "", "query", "SELECT deviceId, status FROM devices", "--page-size", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^DEVICEID\s+STATUS\nt1\s+enabled\nt2\s+enabled\n$`, r.stdout, "a table, a column per field")
	r = cli(t, cs, "", "query", "SELECT * FROM devices")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^DEVICEID\s+STATUS\s+CONNECTIONSTATE\s+TAGS\n`, r.stdout)
	assert.Regexp(t, `t1\s+enabled\s+Disconnected\s+`, r.stdout)
	r = cli(t, cs, "", "query", "SELECT * FROM devices.modules")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^DEVICEID\s+MODULEID\s+STATUS`, r.stdout)
	assert.Regexp(t, `t2\s+m\s+`, r.stdout)
	r = cli(t, cs, "", "query", "SELECT COUNT() AS n FROM devices")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^N\n2\n$`, r.stdout)
	r = cli(t, cs, "", "query", "SELECT * FROM")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "ArgumentInvalid")
}

func TestInvokeCommand(t *testing.T) {
	t.Parallel()
	e := hub(t, emulator.DeviceSeed{DeviceID: "fan"})
	cs := e.ConnectionString()
	d, err := e.Device("fan")
	require.NoError(t, err)
	require.NoError(t, d.Connect(context.Background()))
	defer d.Disconnect()
	d.HandleMethod("speed", func(_ context.Context, payload json.RawMessage) (int, any) {
		return 200, map[string]any{"got": json.RawMessage(payload)}
	})
	r := cli(t, cs, "", "invoke", "fan", "speed", "--payload", `{"rpm":3}`)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "status: 200")
	assert.Contains(t, r.stdout, `{"got":{"rpm":3}}`)
	r = cli(t, cs, "", "-o", "json", "invoke", "fan", "nope")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"status": 501`)
	r = cli(t, cs, "", "invoke", "fan", "speed", "--payload", `{bad`)
	assert.Equal(t, 1, r.code)
	r = cli(t, cs, "", "invoke", "ghost", "speed")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "404001")
	d.Disconnect()
	r = cli(t, cs, "", "invoke", "fan", "speed")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "404103 DeviceNotOnline")
	assert.Contains(t, r.stderr, `device "fan" is not connected; use --connect-timeout to wait for it`)
	r = cli(t, cs, "", "invoke", "fan", "speed", "--connect-timeout", "1s")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "did not connect within --connect-timeout 1s")
}

// TestSpecialDeviceIDs drives devices whose ids hold the characters a path
// must escape (# ? % ;) and +, which the hub allows, through every client
// the command line uses.
func TestSpecialDeviceIDs(t *testing.T) {
	t.Parallel()
	const id = "a#b;c+d?e%f"
	e := hub(t, emulator.DeviceSeed{DeviceID: id})
	cs := e.ConnectionString()
	r := cli(t, cs, "", "device", "show", id)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, id)
	r = cli(t, cs, "", "twin", "update", id, "--tags", `{"k":"v"}`)
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "invoke", id, "ping")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "404103", "routed to the device, which is offline")
	r = cli(t, cs, "", "c2d", "send", id, "hello")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 1, e.C2DQueueDepth(id, ""))
	r = cli(t, cs, "", "module", "create", id, "m;1#x")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "device", "delete", id)
	require.Equal(t, 0, r.code, r.stderr)
}

func TestC2DCommands(t *testing.T) {
	t.Parallel()
	e := hub(t, emulator.DeviceSeed{DeviceID: "lamp"})
	cs := e.ConnectionString()
	d, err := e.Device("lamp")
	require.NoError(t, err)
	require.NoError(t, d.Connect(context.Background()))
	defer d.Disconnect()

	r := cli(t, cs, "", "-o", "json", "c2d", "send", "lamp", "on", "--ack", "full", "--prop", "k=v", "--message-id", "m-1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"messageId": "m-1"`)
	m, err := d.ReceiveC2D(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "on", string(m.Body))
	assert.Equal(t, map[string]string{"k": "v"}, m.Properties)
	require.NoError(t, m.Complete(context.Background()))

	r = cli(t, cs, "", "c2d", "feedback", "--count", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `m-1\s+lamp\s+Success`, r.stdout)
	// A second run does not print the same record again: the first
	// completed it. It waits for one until interrupted (here, 1.5 s).
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer time.AfterFunc(1500*time.Millisecond, cancel).Stop() // as Ctrl-C would
	code := run(ctx, []string{"c2d", "feedback", "--count", "1"}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out,
		getenv: func(k string) string {
			if k == "IOTHUB_CONNECTION_STRING" {
				return cs
			}
			return ""
		}})
	assert.Equal(t, 0, code, out.String())
	assert.NotContains(t, out.String(), "m-1", "the record was printed again")

	r = cli(t, cs, "", "c2d", "send", "ghost", "x")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "404001")
	r = cli(t, cs, "", "c2d", "send", "lamp", "x", "--prop", "novalue")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "name=value")
}

func TestGlobalErrors(t *testing.T) {
	t.Parallel()
	r := cli(t, "", "", "device", "list")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no connection string")
	r = cli(t, "HostName=x;SharedAccessKeyName=k;SharedAccessKey=%%%", "", "device", "list")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "SharedAccessKey")
	assert.NotContains(t, r.stderr, "%%%", "the key is not echoed")
	r = cli(t, "", "", "-o", "yaml", "stats")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--output")
	r = cli(t, "", "", "nonsense")
	assert.Equal(t, 1, r.code)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEmulatorCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"emulator", "--tls", "--ca-file", ca, "--partitions", "2", "--hub-name", "demo"},
			&env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Press Ctrl-C") }, 20*time.Second, 10*time.Millisecond)
	assert.Contains(t, out.String(), `IoT Hub emulator "demo"`)
	assert.Contains(t, out.String(), "EntityPath=demo")
	pem, err := os.ReadFile(ca)
	require.NoError(t, err)
	assert.Contains(t, string(pem), "BEGIN CERTIFICATE")
	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(20 * time.Second):
		t.Fatal("the emulator did not stop on interrupt")
	}
	assert.Equal(t, 1, cli(t, "", "", "emulator", "--tls").code, "--tls needs --ca-file")
}

// TestEmulatorStandardPorts runs `iothub emulator --standard-ports` on a
// loopback address of its own and checks that the connection strings it
// prints are port-less and that its CA file lets a client in.
func TestEmulatorStandardPorts(t *testing.T) {
	const host = "127.0.0.4"
	ca := filepath.Join(t.TempDir(), "ca.pem")
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"emulator", "--standard-ports", "--host", host, "--host-name", host, "--ca-file", ca},
			&env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	}()
	require.Eventually(t, func() bool {
		select {
		case code := <-done:
			done <- code
			return true
		default:
		}
		return strings.Contains(out.String(), "Press Ctrl-C")
	}, 20*time.Second, 10*time.Millisecond)
	if !strings.Contains(out.String(), "Press Ctrl-C") {
		if strings.Contains(out.String(), "permission denied") || strings.Contains(out.String(), "address already in use") {
			if os.Getenv("IOTHUB_REQUIRE_STANDARD_PORTS") != "" {
				t.Fatalf("standard ports are required here (IOTHUB_REQUIRE_STANDARD_PORTS): %s", out.String())
			}
			t.Skipf("skipped: ports 443, 5671 and 8883 on %s are not available to this process (run as root, or free them): %s", host, out.String())
		}
		t.Fatalf("the emulator did not start: %s", out.String())
	}
	assert.Contains(t, out.String(), "HostName="+host+";SharedAccessKeyName=iothubowner")
	assert.Contains(t, out.String(), "Endpoint=sb://"+host+"/;")
	assert.Contains(t, out.String(), host+":443, "+host+":5671, "+host+":8883")

	pem, err := os.ReadFile(ca)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + host + "/devices?api-version=2021-04-12")
	require.NoError(t, err, "the CA file is trusted for the host name")
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no token")

	assert.Equal(t, 1, cli(t, "", "", "emulator", "--standard-ports").code, "--standard-ports needs --ca-file")
	assert.Equal(t, 1, cli(t, "", "", "emulator", "--host-name", "x").code, "--host-name needs --standard-ports")
	cancel()
	assert.Equal(t, 0, <-done)
}

// TestEmulatorStateDir starts `iothub emulator --state-dir` twice on the
// same directory: the device created through the first is there in the
// second, whose connection string is the first one's (a kept key, or the
// one --policy-key gives).
func TestEmulatorStateDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	runEmulator := func(args ...string) (cs string, stop func()) {
		var out syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, append([]string{"emulator", "--state-dir", dir}, args...),
				&env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
		}()
		require.Eventually(t, func() bool { return strings.Contains(out.String(), "Press Ctrl-C") }, 20*time.Second, 10*time.Millisecond, out.String())
		assert.Contains(t, out.String(), "state directory: "+dir)
		_, after, _ := strings.Cut(out.String(), "export IOTHUB_CONNECTION_STRING='")
		cs, _, _ = strings.Cut(after, "'")
		return cs, func() {
			cancel()
			assert.Equal(t, 0, <-done)
		}
	}
	cs1, stop := runEmulator("--policy-key", "iothubowner="+key)
	assert.Contains(t, cs1, "SharedAccessKey="+key)
	r := cli(t, cs1, "", "device", "create", "kept")
	require.Equal(t, 0, r.code, r.stderr)
	stop()

	cs2, stop := runEmulator()
	defer stop()
	// The port differs (0: any free one); the key is the one kept.
	assert.Contains(t, cs2, "SharedAccessKey="+key)
	r = cli(t, cs2, "", "device", "show", "kept")
	require.Equal(t, 0, r.code, r.stderr)

	for _, bad := range []string{"iothubowner", "=abc", "nobody=" + key, "iothubowner=not-base64"} {
		r := cli(t, "", "", "emulator", "--policy-key", bad)
		assert.Equal(t, 1, r.code, bad)
		assert.NotContains(t, r.stderr, "not-base64", "keys are not echoed")
	}
}

func TestMonitorCommand(t *testing.T) {
	t.Parallel()
	e := hub(t, emulator.DeviceSeed{DeviceID: "s1"}, emulator.DeviceSeed{DeviceID: "s2"})
	cs := e.ConnectionString()
	ctx := context.Background()
	devs := map[string]*emulator.SimulatedDevice{}
	for _, id := range []string{"s1", "s2"} {
		d, err := e.Device(id)
		require.NoError(t, err)
		require.NoError(t, d.Connect(ctx))
		devs[id] = d
		for i := range 3 {
			require.NoError(t, d.SendTelemetry(ctx, []byte(fmt.Sprintf(`{"n":%d}`, i)), &emulator.TelemetryOptions{Properties: map[string]string{"k": "v"}}))
		}
		require.NoError(t, d.SendTelemetry(ctx, []byte("plain text"), nil))
	}
	dir := t.TempDir()
	r := cli(t, cs, "", "monitor", "--checkpoint-dir", dir, "--count", "8")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 8)
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &ev))
	assert.Contains(t, []any{"s1", "s2"}, ev["deviceId"])
	assert.Contains(t, r.stdout, `"body":{"n":0}`)
	assert.Contains(t, r.stdout, `"body":"plain text"`)
	assert.Contains(t, r.stdout, `"properties":{"k":"v"}`)

	// A second run resumes after the checkpoints: only new events.
	require.NoError(t, devs["s1"].SendTelemetry(ctx, []byte(`{"late":true}`), nil))
	r = cli(t, cs, "", "monitor", "--checkpoint-dir", dir, "--count", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"late":true`)

	r = cli(t, cs, "", "monitor", "--from", "yesterday")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--from")

	// --lag: each line says how many events its partition held after it.
	r = cli(t, cs, "", "monitor", "--lag", "--count", "9")
	require.Equal(t, 0, r.code, r.stderr)
	lags := map[string][]float64{} // per partition, in order
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &ev))
		require.Contains(t, ev, "lag", line)
		p := ev["partition"].(string)
		lags[p] = append(lags[p], ev["lag"].(float64))
	}
	for p, l := range lags {
		assert.Equal(t, float64(0), l[len(l)-1], "partition %s: the newest event has nothing after it, %v", p, l)
		for i := 1; i < len(l); i++ {
			assert.Equal(t, l[i-1]-1, l[i], "partition %s: %v", p, l)
		}
	}
}

// TestUnreachableHub: the commands that wait for messages fail within a
// few seconds, naming the address they tried, when nothing answers there.
func TestUnreachableHub(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	cs := "HostName=" + addr + ";SharedAccessKeyName=iothubowner;SharedAccessKey=" + key + ";UseDevelopmentEmulator=true"
	for _, args := range [][]string{{"monitor"}, {"c2d", "feedback"}} {
		start := time.Now()
		r := cli(t, cs, "", args...)
		assert.Equal(t, 1, r.code, "%v", args)
		assert.Contains(t, r.stderr, addr, "%v names the address", args)
		assert.Less(t, time.Since(start), 15*time.Second, "%v gave up in time", args)
		assert.NotContains(t, r.stderr, key)
	}
}

// TestCAFile: the client commands trust --ca-file (or $IOTHUB_CA_FILE), as
// an emulator with TLS needs.
func TestCAFile(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{TLS: true, Devices: []emulator.DeviceSeed{{DeviceID: "tls-1"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, e.CACertPEM(), 0o644))
	cs := e.ConnectionString()
	r := cli(t, cs, "", "device", "show", "tls-1")
	assert.Equal(t, 1, r.code, "the emulator's CA is not trusted by default")
	r = cli(t, cs, "", "--ca-file", ca, "device", "show", "tls-1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "tls-1")
	r = cli(t, cs, "", "--ca-file", ca, "c2d", "send", "tls-1", "x")
	require.Equal(t, 0, r.code, r.stderr)
	r = cli(t, cs, "", "--ca-file", filepath.Join(t.TempDir(), "missing.pem"), "device", "show", "tls-1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--ca-file")
}

// TestSimulateCommand runs `iothub simulate` against the emulator and
// drives its devices from the service side: telemetry from the template,
// a method answered as --method says and another echoed, a C2D message
// completed, a desired property reported back.
func TestSimulateCommand(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"mqtt", "amqp", "https"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			testSimulate(t, transport)
		})
	}
	cs := hub(t).ConnectionString()
	r := cli(t, cs, "", "simulate", "--transport", "coap")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "use mqtt, amqp or https")
	assert.Equal(t, 1, cli(t, cs, "", "simulate", "--rate", "fast").code)
	assert.Equal(t, 1, cli(t, cs, "", "simulate", "--template", `{"x":}`).code)
	assert.Equal(t, 1, cli(t, cs, "", "simulate", "--method", "reboot").code)
}

// testSimulate plays two devices over transport and drives them as a
// backend does.
func testSimulate(t *testing.T, transport string) {
	e := hub(t)
	cs := e.ConnectionString()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--transport", transport, "--devices", "2", "--rate", "20/s", "--method", `reboot=202:{"ok":true}`,
			"--template", `{"seq":{{seq}},"t":{{rand 20 30}},"at":"{{now}}"}`},
			&env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(k string) string {
				if k == "IOTHUB_CONNECTION_STRING" {
					return cs
				}
				return ""
			}})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "simulating 2 devices") }, 20*time.Second, 10*time.Millisecond, out.String())
	bg := context.Background()
	hasTwins := transport != "https" // IoT Hub's HTTPS device API has no methods or twins
	if hasTwins {
		mc, err := methods.NewClientFromConnectionString(cs, nil)
		require.NoError(t, err)
		var resp *methods.Response
		require.Eventually(t, func() bool {
			resp, err = mc.Invoke(bg, "sim-001", &methods.Request{MethodName: "reboot", ResponseTimeout: 5 * time.Second})
			return err == nil
		}, 20*time.Second, 50*time.Millisecond, "the simulated device answers methods")
		assert.Equal(t, 202, resp.Status)
		assert.JSONEq(t, `{"ok":true}`, string(resp.Payload))
		// sim-000 may still be subscribing: the hub waits for it.
		resp, err = mc.Invoke(bg, "sim-000", &methods.Request{MethodName: "ping", Payload: json.RawMessage(`{"n":1}`), ConnectTimeout: 10 * time.Second, ResponseTimeout: 5 * time.Second})
		require.NoError(t, err)
		assert.Equal(t, 200, resp.Status)
		assert.JSONEq(t, `{"method":"ping","payload":{"n":1}}`, string(resp.Payload))
	}

	r := cli(t, cs, "", "c2d", "send", "sim-000", "hello")
	require.Equal(t, 0, r.code, r.stderr)
	require.Eventually(t, func() bool { return e.C2DQueueDepth("sim-000", "") == 0 }, 10*time.Second, 20*time.Millisecond, "completed")

	if hasTwins {
		tc, err := twin.NewClientFromConnectionString(cs, nil)
		require.NoError(t, err)
		_, err = tc.Update(bg, "sim-000", &twin.Patch{Desired: map[string]any{"interval": 5}})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			tw, err := tc.Get(bg, "sim-000")
			return err == nil && tw.Properties.Reported["interval"] != nil
		}, 10*time.Second, 20*time.Millisecond, "the desired property is reported back")
	}

	consumer, err := eventhub.NewConsumerFromConnectionString(cs, nil)
	require.NoError(t, err)
	defer consumer.Close(bg)
	var ev *eventhub.Event
	for _, pid := range e.PartitionIDs() {
		rcv, err := consumer.NewPartitionReceiver(pid, &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
		require.NoError(t, err)
		short, stop := context.WithTimeout(bg, 500*time.Millisecond)
		evs, _ := rcv.Receive(short, 1)
		stop()
		_ = rcv.Close(bg)
		if len(evs) > 0 {
			ev = evs[0]
			break
		}
	}
	require.NotNil(t, ev, "telemetry arrived")
	var body map[string]any
	require.NoError(t, json.Unmarshal(ev.Body, &body))
	assert.Contains(t, body, "seq")
	assert.GreaterOrEqual(t, body["t"], float64(20))
	assert.Less(t, body["t"], float64(30))
	assert.Equal(t, "application/json", ev.ContentType)

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, out.String())
	case <-time.After(20 * time.Second):
		t.Fatal("simulate did not stop")
	}
	if hasTwins {
		assert.Regexp(t, `telemetry \d+ · methods [1-9]`, out.String())
	}
	assert.Regexp(t, `telemetry [1-9]\d* · methods \d+ · c2d [1-9]`, out.String())
}
