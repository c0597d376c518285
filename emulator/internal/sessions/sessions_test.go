package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEndpoint answers methods with a function and records what it is told.
type fakeEndpoint struct {
	invoke func(ctx context.Context, name string, payload json.RawMessage) (int, json.RawMessage, error)

	mu      sync.Mutex
	desired []int64
	closed  []error
}

func (f *fakeEndpoint) InvokeMethod(ctx context.Context, name string, payload json.RawMessage) (int, json.RawMessage, error) {
	return f.invoke(ctx, name, payload)
}

func (f *fakeEndpoint) DesiredPropertiesChanged(_ map[string]any, version int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.desired = append(f.desired, version)
}

func (f *fakeEndpoint) Closed(reason error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, reason)
}

func echo() *fakeEndpoint {
	return &fakeEndpoint{invoke: func(_ context.Context, name string, payload json.RawMessage) (int, json.RawMessage, error) {
		return 200, payload, nil
	}}
}

type change struct {
	key       Key
	connected bool
}

func newManager() (*Manager, func() []change) {
	var mu sync.Mutex
	var changes []change
	m := NewManager(nil, func(k Key, c bool, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, change{k, c})
	})
	return m, func() []change {
		mu.Lock()
		defer mu.Unlock()
		return append([]change(nil), changes...)
	}
}

func TestConnectDisconnect(t *testing.T) {
	t.Parallel()
	m, changes := newManager()
	d := Key{DeviceID: "d1"}
	mod := Key{DeviceID: "d1", ModuleID: "m"}
	s := m.Connect(d, echo())
	m.Connect(mod, echo())
	assert.True(t, m.Connected(d))
	assert.Equal(t, 1, m.ConnectedDevices(), "module sessions are not devices")
	assert.True(t, m.Disconnect(s))
	assert.False(t, m.Disconnect(s), "twice is a no-op")
	assert.False(t, m.Connected(d))
	assert.Equal(t, 0, m.ConnectedDevices())
	assert.Equal(t, []change{{d, true}, {mod, true}, {d, false}}, changes())
}

func TestConnectReplacesOldSession(t *testing.T) {
	t.Parallel()
	m, changes := newManager()
	k := Key{DeviceID: "d1"}
	first := echo()
	s1 := m.Connect(k, first)
	s2 := m.Connect(k, echo())
	assert.Equal(t, []error{ErrReplaced}, first.closed)
	assert.False(t, m.Disconnect(s1), "the replaced session no longer counts")
	assert.True(t, m.Connected(k))
	assert.True(t, m.Disconnect(s2))
	assert.Equal(t, []change{{k, true}, {k, false}}, changes(), "a takeover is not a disconnect")
}

func TestKickDevice(t *testing.T) {
	t.Parallel()
	m, _ := newManager()
	d, mod := echo(), echo()
	m.Connect(Key{DeviceID: "d1"}, d)
	m.Connect(Key{DeviceID: "d1", ModuleID: "m"}, mod)
	other := echo()
	m.Connect(Key{DeviceID: "d2"}, other)
	reason := errors.New("device disabled")
	m.KickDevice("d1", reason)
	assert.Equal(t, []error{reason}, d.closed)
	assert.Equal(t, []error{reason}, mod.closed)
	assert.Empty(t, other.closed)
	assert.False(t, m.Kick(Key{DeviceID: "d1"}, reason))
	assert.Equal(t, 1, m.ConnectedDevices())
}

func TestInvoke(t *testing.T) {
	t.Parallel()
	m, _ := newManager()
	k := Key{DeviceID: "d1"}
	ctx := context.Background()

	_, _, err := m.Invoke(ctx, k, "m", nil, 0, time.Second)
	require.ErrorIs(t, err, ErrNotOnline, "offline, no connect time-out")

	s := m.Connect(k, echo())
	_, _, err = m.Invoke(ctx, k, "m", nil, 0, time.Second)
	require.ErrorIs(t, err, ErrNotOnline, "connected but not subscribed to methods")

	m.Subscribe(s, true, false)
	status, resp, err := m.Invoke(ctx, k, "m", json.RawMessage(`{"a":1}`), 0, time.Second)
	require.NoError(t, err)
	assert.Equal(t, 200, status)
	assert.JSONEq(t, `{"a":1}`, string(resp))
}

func TestInvokeWaitsForConnection(t *testing.T) {
	t.Parallel()
	m, _ := newManager()
	k := Key{DeviceID: "d1"}
	done := make(chan error, 1)
	go func() {
		_, _, err := m.Invoke(context.Background(), k, "m", nil, 10*time.Second, time.Second)
		done <- err
	}()
	s := m.Connect(k, echo())
	select {
	case err := <-done:
		t.Fatalf("Invoke returned %v before the device subscribed to methods", err)
	default:
	}
	m.Subscribe(s, true, false)
	require.NoError(t, <-done)
}

func TestInvokeConnectTimeoutExpires(t *testing.T) {
	t.Parallel()
	m, _ := newManager()
	_, _, err := m.Invoke(context.Background(), Key{DeviceID: "d1"}, "m", nil, 50*time.Millisecond, time.Second)
	require.ErrorIs(t, err, ErrNotOnline)
}

func TestInvokeResponseTimeout(t *testing.T) {
	t.Parallel()
	m, _ := newManager()
	k := Key{DeviceID: "d1"}
	slow := &fakeEndpoint{invoke: func(ctx context.Context, _ string, _ json.RawMessage) (int, json.RawMessage, error) {
		<-ctx.Done()
		return 0, nil, ctx.Err()
	}}
	m.Subscribe(m.Connect(k, slow), true, false)
	_, _, err := m.Invoke(context.Background(), k, "m", nil, 0, 50*time.Millisecond)
	require.ErrorIs(t, err, ErrTimeout)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = m.Invoke(ctx, k, "m", nil, 0, time.Minute)
	require.ErrorIs(t, err, context.Canceled, "the caller's own cancellation is not a device time-out")
}

func TestInvokeConnectionLost(t *testing.T) {
	t.Parallel()
	m, _ := newManager()
	k := Key{DeviceID: "d1"}
	lost := &fakeEndpoint{invoke: func(context.Context, string, json.RawMessage) (int, json.RawMessage, error) {
		return 0, nil, errors.New("connection reset")
	}}
	m.Subscribe(m.Connect(k, lost), true, false)
	_, _, err := m.Invoke(context.Background(), k, "m", nil, 0, time.Second)
	require.ErrorIs(t, err, ErrNotOnline)
}

func TestNotifyDesired(t *testing.T) {
	t.Parallel()
	m, _ := newManager()
	k := Key{DeviceID: "d1"}
	ep := echo()
	s := m.Connect(k, ep)
	m.NotifyDesired(k, map[string]any{"a": 1}, 2)
	assert.Empty(t, ep.desired, "not subscribed")
	m.Subscribe(s, false, true)
	m.NotifyDesired(k, map[string]any{"a": 1}, 3)
	m.NotifyDesired(Key{DeviceID: "other"}, map[string]any{"a": 1}, 4)
	assert.Equal(t, []int64{3}, ep.desired)
}

func TestKickAll(t *testing.T) {
	t.Parallel()
	m, changes := newManager()
	a, b := echo(), echo()
	m.Connect(Key{DeviceID: "d1"}, a)
	m.Connect(Key{DeviceID: "d2", ModuleID: "m"}, b)
	reason := errors.New("hub stopped")
	m.KickAll(reason)
	assert.Equal(t, []error{reason}, a.closed)
	assert.Equal(t, []error{reason}, b.closed)
	assert.Zero(t, m.ConnectedDevices())
	assert.Len(t, changes(), 4, "two connects, two disconnects")
}
