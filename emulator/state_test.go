package emulator_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

// TestStateSurvivesRestart writes to a hub with a state directory, closes
// it, starts another on the same directory and finds everything: devices,
// modules, twins, policies and their keys (the same connection string
// works), C2D messages, telemetry, consumer groups and the CA.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := &emulator.Options{StateDir: dir, TLS: true, ConsumerGroups: []string{"analytics"}}
	e1, err := emulator.Start(ctx, opts)
	require.NoError(t, err)
	cs := e1.ConnectionString()
	ca := e1.CACertPEM()
	writeState(ctx, t, localHub{e1})
	e1.Close()

	e2, err := emulator.Start(ctx, &emulator.Options{StateDir: dir, TLS: true, Addr: e1.HostName()})
	require.NoError(t, err)
	defer e2.Close()
	assert.Equal(t, cs, e2.ConnectionString(), "the same keys, so the same connection string")
	assert.Equal(t, ca, e2.CACertPEM(), "the same CA, so clients keep trusting it")
	checkState(ctx, t, localHub{e2}, cs)
	consumer, err := eventhub.NewConsumerFromConnectionString(e2.EventHubConnectionString(), &eventhub.ConsumerOptions{ConsumerGroup: "analytics", TLSConfig: e2.TLSConfig()})
	require.NoError(t, err)
	defer consumer.Close(ctx)
	_, err = consumer.Properties(ctx)
	require.NoError(t, err, "the consumer group given at the first start is kept")
}

// stateHub is a hub under test: in this process, or in a child process
// whose simulated devices are driven through commands.
type stateHub interface {
	ConnectionString() string
	EventHubConnectionString() string
	Client() *http.Client
	TLSConfig() *tls.Config
	PartitionIDs() []string
	device(id string) stateDevice
}

// stateDevice is what the tests do with a simulated device.
type stateDevice interface {
	sendTelemetry(ctx context.Context, body string, props map[string]string) error
	reportProperties(ctx context.Context, patch map[string]any) error
	// receiveC2D receives one message and completes it.
	receiveC2D(ctx context.Context) (body, messageID string, err error)
}

type localHub struct{ *emulator.Emulator }

func (h localHub) device(id string) stateDevice { return localDevice{h.Emulator, id} }

type localDevice struct {
	e  *emulator.Emulator
	id string
}

func (d localDevice) connected(ctx context.Context) (*emulator.SimulatedDevice, error) {
	dev, err := d.e.Device(d.id)
	if err != nil {
		return nil, err
	}
	if !dev.Connected() {
		err = dev.Connect(ctx)
	}
	return dev, err
}

func (d localDevice) sendTelemetry(ctx context.Context, body string, props map[string]string) error {
	dev, err := d.connected(ctx)
	if err != nil {
		return err
	}
	return dev.SendTelemetry(ctx, []byte(body), &emulator.TelemetryOptions{Properties: props})
}

func (d localDevice) reportProperties(ctx context.Context, patch map[string]any) error {
	dev, err := d.connected(ctx)
	if err != nil {
		return err
	}
	_, err = dev.ReportProperties(ctx, patch)
	return err
}

func (d localDevice) receiveC2D(ctx context.Context) (string, string, error) {
	dev, err := d.connected(ctx)
	if err != nil {
		return "", "", err
	}
	m, err := dev.ReceiveC2D(ctx)
	if err != nil {
		return "", "", err
	}
	return string(m.Body), m.MessageID, m.Complete(ctx)
}

// writeState makes one of everything a state directory keeps.
func writeState(ctx context.Context, t *testing.T, e stateHub) {
	t.Helper()
	opts := &iothub.ClientOptions{HTTPClient: e.Client()}
	reg, err := registry.NewClientFromConnectionString(e.ConnectionString(), opts)
	require.NoError(t, err)
	_, err = reg.CreateDevice(ctx, &registry.Device{DeviceID: "kept-1"})
	require.NoError(t, err)
	_, err = reg.CreateModule(ctx, &registry.Module{DeviceID: "kept-1", ModuleID: "m1"})
	require.NoError(t, err)
	_, err = reg.CreateDevice(ctx, &registry.Device{DeviceID: "deleted"})
	require.NoError(t, err)
	require.NoError(t, reg.DeleteDevice(ctx, "deleted", ""))
	tw, err := twin.NewClientFromConnectionString(e.ConnectionString(), opts)
	require.NoError(t, err)
	_, err = tw.Update(ctx, "kept-1", &twin.Patch{Tags: map[string]any{"site": "lab"}, Desired: map[string]any{"interval": 30}})
	require.NoError(t, err)

	c, err := c2d.NewClientFromConnectionString(e.ConnectionString(), &c2d.ClientOptions{ClientOptions: iothub.ClientOptions{TLSConfig: e.TLSConfig()}})
	require.NoError(t, err)
	defer c.Close(ctx)
	for i := range 3 {
		require.NoError(t, c.Send(ctx, "kept-1", &c2d.Message{Body: []byte(fmt.Sprintf("c2d-%d", i)), MessageID: fmt.Sprintf("m-%d", i)}))
	}
	dev := e.device("kept-1")
	for i := range 5 {
		require.NoError(t, dev.sendTelemetry(ctx, fmt.Sprintf("event-%d", i), map[string]string{"i": fmt.Sprint(i)}))
	}
	require.NoError(t, dev.reportProperties(ctx, map[string]any{"firmware": "1.2.3"}))
}

// checkState finds what writeState wrote, through the connection string
// of the first run.
func checkState(ctx context.Context, t *testing.T, e stateHub, cs string) {
	t.Helper()
	opts := &iothub.ClientOptions{HTTPClient: e.Client()}
	reg, err := registry.NewClientFromConnectionString(cs, opts)
	require.NoError(t, err)
	d, err := reg.GetDevice(ctx, "kept-1")
	require.NoError(t, err, "the device is kept")
	assert.Equal(t, 3, d.CloudToDeviceMessageCount, "the C2D queue is kept")
	assert.Equal(t, "Disconnected", string(d.ConnectionState))
	_, err = reg.GetModule(ctx, "kept-1", "m1")
	require.NoError(t, err, "the module is kept")
	_, err = reg.GetDevice(ctx, "deleted")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound, "the delete is kept too")
	tw, err := twin.NewClientFromConnectionString(cs, opts)
	require.NoError(t, err)
	got, err := tw.Get(ctx, "kept-1")
	require.NoError(t, err)
	assert.Equal(t, "lab", got.Tags["site"])
	assert.EqualValues(t, 30, got.Properties.Desired["interval"])
	assert.Equal(t, "1.2.3", got.Properties.Reported["firmware"])

	dev := e.device("kept-1")
	for i := range 3 {
		body, id, err := dev.receiveC2D(ctx)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("c2d-%d", i), body, "in order")
		assert.Equal(t, fmt.Sprintf("m-%d", i), id)
	}

	consumer, err := eventhub.NewConsumerFromConnectionString(cs, &eventhub.ConsumerOptions{TLSConfig: e.TLSConfig()})
	require.NoError(t, err)
	defer consumer.Close(ctx)
	var bodies []string
	for _, pid := range e.PartitionIDs() {
		r, err := consumer.NewPartitionReceiver(pid, &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
		require.NoError(t, err)
		for {
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			events, err := r.Receive(short, 10)
			cancel()
			if err != nil || len(events) == 0 {
				break
			}
			for _, ev := range events {
				bodies = append(bodies, string(ev.Body))
				assert.Equal(t, "kept-1", ev.DeviceID)
			}
		}
		_ = r.Close(ctx)
	}
	assert.Equal(t, []string{"event-0", "event-1", "event-2", "event-3", "event-4"}, bodies)
}

func TestStateDirOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // 32 bytes
	e, err := emulator.Start(ctx, &emulator.Options{StateDir: dir, HubName: "alpha", Policies: []emulator.Policy{{Name: "iothubowner", PrimaryKey: key, Rights: emulator.AllRights}}})
	require.NoError(t, err)
	_, err = emulator.Start(ctx, &emulator.Options{StateDir: dir, HubName: "alpha"})
	require.Error(t, err, "one emulator at a time")
	assert.Contains(t, err.Error(), "in use")
	e.Close()

	_, err = emulator.Start(ctx, &emulator.Options{StateDir: dir, HubName: "beta"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `holds hub "alpha"`)

	e, err = emulator.Start(ctx, &emulator.Options{StateDir: dir, HubName: "alpha"})
	require.NoError(t, err)
	assert.Equal(t, key, e.Policies()[0].PrimaryKey, "the given key is kept")
	e.Close()

	_, err = emulator.Start(ctx, &emulator.Options{Policies: []emulator.Policy{{Name: "p", PrimaryKey: "not base64!", Rights: emulator.AllRights}}})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "not base64!", "the key is not echoed")
	_, err = emulator.Start(ctx, &emulator.Options{Policies: []emulator.Policy{{Name: "p", PrimaryKey: "c2hvcnQ=", Rights: emulator.AllRights}}})
	require.Error(t, err, "a key of 5 bytes")
}

// TestStateSurvivesSIGKILL runs the emulator in a child process with a
// state directory, writes through it, kills it with SIGKILL, starts it
// again on the same directory and port and finds every acknowledged
// write, through the connection string of the first run.
func TestStateSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child process")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	first := startChild(t, dir, addr)
	cs := first.ConnectionString()
	writeState(ctx, t, first)
	first.kill(t)

	second := startChild(t, dir, addr)
	defer second.kill(t)
	assert.Equal(t, cs, second.ConnectionString(), "the same keys, so the same connection string")
	checkState(ctx, t, second, cs)
}

const childEnv = "IOTHUB_EMULATOR_STATE_CHILD"

// TestStateChild is the child process of TestStateSurvivesSIGKILL: an
// emulator on the state directory and address it is given, which prints
// its connection strings and partitions, then plays its simulated devices
// as stdin's commands say (one JSON object a line, one answer a line on
// stdout) until it is killed.
func TestStateChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("only as the child process of TestStateSurvivesSIGKILL")
	}
	dir, addr, _ := strings.Cut(spec, "|")
	e, err := emulator.Start(context.Background(), &emulator.Options{StateDir: dir, Addr: addr})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	hello, _ := json.Marshal(childHello{e.ConnectionString(), e.EventHubConnectionString(), e.PartitionIDs()})
	fmt.Println("READY", string(hello))
	h := localHub{e}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var cmd childCommand
		var ans childAnswer
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			ans.Error = err.Error()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			d := h.device(cmd.Device)
			switch cmd.Op {
			case "telemetry":
				err = d.sendTelemetry(ctx, cmd.Body, cmd.Properties)
			case "report":
				err = d.reportProperties(ctx, cmd.Patch)
			case "c2d":
				ans.Body, ans.MessageID, err = d.receiveC2D(ctx)
			default:
				err = fmt.Errorf("unknown op %q", cmd.Op)
			}
			cancel()
			if err != nil {
				ans.Error = err.Error()
			}
		}
		line, _ := json.Marshal(ans)
		fmt.Println("ANSWER", string(line))
	}
	select {} // until SIGKILL
}

type childHello struct {
	ConnectionString, EventHubConnectionString string
	PartitionIDs                               []string
}

type childCommand struct {
	Op, Device, Body string
	Properties       map[string]string
	Patch            map[string]any
}

type childAnswer struct {
	Body, MessageID, Error string
}

// child is a hub in a child process, plain TCP on a fixed address.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	hello childHello
	mu    sync.Mutex
}

func startChild(t *testing.T, dir, addr string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStateChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir+"|"+addr)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	deadline := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for c.out.Scan() {
		line := c.out.Text()
		if v, ok := strings.CutPrefix(line, "READY "); ok {
			require.NoError(t, json.Unmarshal([]byte(v), &c.hello))
			return c
		}
		require.False(t, strings.HasPrefix(line, "ERROR"), line)
	}
	t.Fatalf("the child emulator did not start: %v", c.out.Err())
	return nil
}

func (c *child) ConnectionString() string         { return c.hello.ConnectionString }
func (c *child) EventHubConnectionString() string { return c.hello.EventHubConnectionString }
func (c *child) Client() *http.Client             { return http.DefaultClient }
func (c *child) TLSConfig() *tls.Config           { return nil }
func (c *child) PartitionIDs() []string           { return c.hello.PartitionIDs }
func (c *child) device(id string) stateDevice     { return childDevice{c, id} }

// do sends one command and reads its answer.
func (c *child) do(cmd childCommand) (childAnswer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line, _ := json.Marshal(cmd)
	if _, err := fmt.Fprintf(c.in, "%s\n", line); err != nil {
		return childAnswer{}, err
	}
	for c.out.Scan() {
		if v, ok := strings.CutPrefix(c.out.Text(), "ANSWER "); ok {
			var ans childAnswer
			if err := json.Unmarshal([]byte(v), &ans); err != nil {
				return childAnswer{}, err
			}
			if ans.Error != "" {
				return ans, errors.New(ans.Error)
			}
			return ans, nil
		}
	}
	return childAnswer{}, fmt.Errorf("the child process ended: %v", c.out.Err())
}

type childDevice struct {
	c  *child
	id string
}

func (d childDevice) sendTelemetry(_ context.Context, body string, props map[string]string) error {
	_, err := d.c.do(childCommand{Op: "telemetry", Device: d.id, Body: body, Properties: props})
	return err
}

func (d childDevice) reportProperties(_ context.Context, patch map[string]any) error {
	_, err := d.c.do(childCommand{Op: "report", Device: d.id, Patch: patch})
	return err
}

func (d childDevice) receiveC2D(context.Context) (string, string, error) {
	ans, err := d.c.do(childCommand{Op: "c2d", Device: d.id})
	return ans.Body, ans.MessageID, err
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if c.cmd.ProcessState != nil {
		return
	}
	require.NoError(t, c.cmd.Process.Kill()) // SIGKILL: no shutdown, no flush
	_ = c.cmd.Wait()
}
