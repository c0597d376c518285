// Package sessions keeps the live connections of devices and modules to the
// emulated hub, whatever carries them: in-process simulated devices today,
// MQTT or AMQP device connections later. The hub side (direct methods,
// desired-property notifications, connection state) talks to a session
// through the Endpoint interface only.
package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// Errors of Invoke, which the REST layer maps to the hub's codes.
var (
	// ErrNotOnline: no session subscribed to direct methods within the
	// connect time-out, or the session ended during the call (404103).
	ErrNotOnline = errors.New("sessions: device is not online")
	// ErrTimeout: the device did not answer within the response time-out (504101).
	ErrTimeout = errors.New("sessions: device did not answer in time")
	// ErrReplaced is the reason given to a session taken over by a new
	// connection of the same identity.
	ErrReplaced = errors.New("sessions: a new connection of the same identity replaced this one")
)

// Key identifies a device (ModuleID empty) or a module.
type Key struct {
	DeviceID string
	ModuleID string
}

// Endpoint is what the hub needs of a connected device or module.
type Endpoint interface {
	// InvokeMethod runs a direct method on the device and returns its
	// status and JSON answer. It returns ctx's error when ctx ends first
	// (the response time-out), and another error when the connection is
	// lost.
	InvokeMethod(ctx context.Context, name string, payload json.RawMessage) (status int, response json.RawMessage, err error)
	// DesiredPropertiesChanged delivers a desired-properties patch the
	// service applied, with the collection's new $version. It must not
	// block.
	DesiredPropertiesChanged(patch map[string]any, version int64)
	// Closed tells the endpoint that the hub ended its session.
	Closed(reason error)
}

// Session is one live connection.
type Session struct {
	key         Key
	ep          Endpoint
	connectedAt time.Time

	// Guarded by the Manager's mutex.
	methods bool // subscribed to direct methods
	desired bool // subscribed to desired-property notifications
}

// Key returns the identity of the session.
func (s *Session) Key() Key { return s.key }

// ConnectedAt returns when the session started.
func (s *Session) ConnectedAt() time.Time { return s.connectedAt }

// Manager holds the sessions of one hub. It is safe for concurrent use.
type Manager struct {
	now      func() time.Time
	onChange func(key Key, connected bool, at time.Time)

	mu       sync.Mutex
	sessions map[Key]*Session
	changed  chan struct{} // closed and replaced whenever a session or subscription changes
}

// NewManager returns a Manager. onChange, if not nil, is called whenever an
// identity connects or disconnects, so the registry can keep
// connectionState up to date; it runs under the Manager's lock, so calls
// come in order, and it must not call the Manager. now is the clock; nil
// means time.Now.
func NewManager(now func() time.Time, onChange func(key Key, connected bool, at time.Time)) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{now: now, onChange: onChange, sessions: make(map[Key]*Session), changed: make(chan struct{})}
}

// broadcastLocked wakes everyone waiting for a change.
func (m *Manager) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Connect starts a session for key, carried by ep. A session already open
// for the same identity is closed with ErrReplaced, as the hub does when a
// device connects twice.
func (m *Manager) Connect(key Key, ep Endpoint) *Session {
	s := &Session{key: key, ep: ep, connectedAt: m.now()}
	m.mu.Lock()
	old := m.sessions[key]
	m.sessions[key] = s
	m.broadcastLocked()
	if old == nil && m.onChange != nil {
		m.onChange(key, true, s.connectedAt)
	}
	m.mu.Unlock()
	if old != nil {
		old.ep.Closed(ErrReplaced)
	}
	return s
}

// Disconnect ends s if it is still the identity's current session; it
// reports whether it was.
func (m *Manager) Disconnect(s *Session) bool {
	m.mu.Lock()
	cur := m.sessions[s.key]
	if cur != s {
		m.mu.Unlock()
		return false
	}
	delete(m.sessions, s.key)
	m.broadcastLocked()
	if m.onChange != nil {
		m.onChange(s.key, false, m.now())
	}
	m.mu.Unlock()
	return true
}

// Kick ends the session of key from the hub's side (the device was
// disabled or deleted), telling its endpoint reason. It reports whether
// there was one.
func (m *Manager) Kick(key Key, reason error) bool {
	m.mu.Lock()
	s := m.sessions[key]
	m.mu.Unlock()
	if s == nil || !m.Disconnect(s) {
		return false
	}
	s.ep.Closed(reason)
	return true
}

// KickDevice ends the sessions of a device and of all its modules.
func (m *Manager) KickDevice(deviceID string, reason error) {
	m.mu.Lock()
	var keys []Key
	for k := range m.sessions {
		if k.DeviceID == deviceID {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	for _, k := range keys {
		m.Kick(k, reason)
	}
}

// KickAll ends every session, telling each endpoint reason, as when the
// hub stops.
func (m *Manager) KickAll(reason error) {
	m.mu.Lock()
	keys := make([]Key, 0, len(m.sessions))
	for k := range m.sessions {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		m.Kick(k, reason)
	}
}

// Subscribe sets which hub-to-device operations s receives.
func (m *Manager) Subscribe(s *Session, methods, desired bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.methods, s.desired = methods, desired
	m.broadcastLocked()
}

// Connected reports whether key has a session.
func (m *Manager) Connected(key Key) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[key] != nil
}

// ConnectedDevices counts the devices with a session of their own (module
// sessions are not devices).
func (m *Manager) ConnectedDevices() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.sessions {
		if k.ModuleID == "" {
			n++
		}
	}
	return n
}

// NotifyDesired delivers a desired-properties patch to key's session, if
// it has one subscribed to them.
func (m *Manager) NotifyDesired(key Key, patch map[string]any, version int64) {
	m.mu.Lock()
	s := m.sessions[key]
	ok := s != nil && s.desired
	m.mu.Unlock()
	if ok {
		s.ep.DesiredPropertiesChanged(patch, version)
	}
}

// Invoke runs a direct method the way the hub does: it waits up to
// connectTimeout for a session of key subscribed to methods (ErrNotOnline
// after that), then up to responseTimeout for the answer (ErrTimeout).
// It returns ctx's error if ctx ends first.
func (m *Manager) Invoke(ctx context.Context, key Key, name string, payload json.RawMessage, connectTimeout, responseTimeout time.Duration) (int, json.RawMessage, error) {
	s, err := m.waitSubscribed(ctx, key, connectTimeout)
	if err != nil {
		return 0, nil, err
	}
	callCtx, cancel := context.WithTimeout(ctx, responseTimeout)
	defer cancel()
	status, resp, err := s.ep.InvokeMethod(callCtx, name, payload)
	switch {
	case err == nil:
		return status, resp, nil
	case ctx.Err() != nil:
		return 0, nil, ctx.Err()
	case callCtx.Err() != nil:
		return 0, nil, ErrTimeout
	}
	return 0, nil, ErrNotOnline
}

func (m *Manager) waitSubscribed(ctx context.Context, key Key, timeout time.Duration) (*Session, error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		m.mu.Lock()
		s := m.sessions[key]
		ready := s != nil && s.methods
		changed := m.changed
		m.mu.Unlock()
		if ready {
			return s, nil
		}
		if timeout <= 0 {
			return nil, ErrNotOnline
		}
		select {
		case <-changed:
		case <-expired:
			return nil, ErrNotOnline
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
