package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Errors of simulated devices.
var (
	// ErrDeviceDisabled: the device identity (or the device of a module) is
	// disabled, so the hub refuses its connection; a connected device is
	// disconnected with this reason when it is disabled.
	ErrDeviceDisabled = errors.New("emulator: device is disabled")
	// ErrNotConnected: the operation needs a connection; call Connect.
	ErrNotConnected = errors.New("emulator: simulated device is not connected")
	// ErrConnectionReplaced: another connection of the same identity took
	// this one over, as the hub does when a device connects twice.
	ErrConnectionReplaced = errors.New("emulator: a newer connection of the same identity replaced this one")
	// ErrEmulatorClosed: the emulator was shut down.
	ErrEmulatorClosed = errors.New("emulator: closed")
)

// Method response statuses the official device SDKs send on their own, and
// that a SimulatedDevice sends the same way.
const (
	// StatusMethodNotImplemented answers a method with no handler and no
	// default handler (the SDKs' MethodNotImplemented).
	StatusMethodNotImplemented = 501
	// StatusUserCodeException answers a method whose handler panicked or
	// returned a response that does not encode as JSON (the SDKs'
	// UserCodeException).
	StatusUserCodeException = 500
)

// MethodHandler answers one direct method: payload is the JSON the
// service sent ("null" when it sent none); status is any integer the
// service will see as the result's status, and response is encoded as
// JSON (a json.RawMessage is sent as is; nil is JSON null). ctx ends when
// the hub stops waiting for the answer: at the call's response time-out, or
// when the connection closes.
type MethodHandler func(ctx context.Context, payload json.RawMessage) (status int, response any)

// DefaultMethodHandler answers the direct methods that have no handler of
// their own; name is the method's name.
type DefaultMethodHandler func(ctx context.Context, name string, payload json.RawMessage) (status int, response any)

// SimulatedDevice is an in-process device (or module) connection to the
// emulator: what a device application built on an official device SDK does
// over MQTT, without the network. Tests drive it to make a device appear
// online, answer direct methods, receive desired properties and report
// properties. Create one with [Emulator.Device] or [Emulator.Module].
//
// It behaves as the official device SDKs do:
//
//   - It subscribes to direct methods when its first handler (or the default
//     handler) is set, and unsubscribes when the last one is removed. Until
//     then the hub treats it as not ready for methods: a call waits for the
//     connect time-out and fails with 404103 DeviceNotOnline, even though
//     the device is connected.
//   - A method with neither a handler nor a default handler is answered
//     with status 501 (MethodNotImplemented) and no payload.
//   - A handler that panics, or returns a response that does not encode as
//     JSON, is answered with status 500 (UserCodeException) and no payload.
//   - Each call runs its handler in a goroutine of its own, so calls run
//     concurrently; a handler should return when its ctx ends.
//   - It subscribes to desired-property updates when OnDesiredProperties is
//     given a callback; updates reach the callback one at a time, in the
//     order the service made them.
//
// A SimulatedDevice is safe for concurrent use. Disconnect it, or Close
// the emulator, when done.
type SimulatedDevice struct {
	e   *Emulator
	key sessions.Key

	// connMu serialises the calls that change the session (Connect,
	// Disconnect, subscriptions); it is never held by the hub's callbacks,
	// which take mu only.
	connMu sync.Mutex

	mu        sync.Mutex
	conn      *simConn // nil when disconnected
	handlers  map[string]MethodHandler
	fallback  DefaultMethodHandler
	onDesired func(patch map[string]any, version int64)
	pending   []desiredUpdate // waiting for the delivery goroutine
	draining  bool            // a delivery goroutine runs
}

type desiredUpdate struct {
	patch   map[string]any
	version int64
}

// Device returns a simulated connection for device id, not yet connected.
// It fails with an error matching iothub.ErrDeviceNotFound when there is
// no such device. Each call returns a new connection; connecting two of
// the same identity makes the newer replace the older.
func (e *Emulator) Device(id string) (*SimulatedDevice, error) {
	if _, err := e.hub.Registry().GetDevice(id); err != nil {
		return nil, fmt.Errorf("emulator: simulated device %q: %w", id, err)
	}
	return e.newSimulated(sessions.Key{DeviceID: id}), nil
}

// Module returns a simulated connection for module moduleID of device
// deviceID, not yet connected. It fails with an error matching
// iothub.ErrDeviceNotFound or iothub.ErrModuleNotFound for an unknown
// identity. A module's connection does not count as a connected device.
func (e *Emulator) Module(deviceID, moduleID string) (*SimulatedDevice, error) {
	if _, err := e.hub.Registry().GetModule(deviceID, moduleID); err != nil {
		return nil, fmt.Errorf("emulator: simulated module %q of device %q: %w", moduleID, deviceID, err)
	}
	return e.newSimulated(sessions.Key{DeviceID: deviceID, ModuleID: moduleID}), nil
}

func (e *Emulator) newSimulated(key sessions.Key) *SimulatedDevice {
	return &SimulatedDevice{e: e, key: key, handlers: make(map[string]MethodHandler)}
}

// DeviceID returns the id of the device.
func (d *SimulatedDevice) DeviceID() string { return d.key.DeviceID }

// ModuleID returns the id of the module, or "" for a device.
func (d *SimulatedDevice) ModuleID() string { return d.key.ModuleID }

// String names the identity, e.g. "device d1" or "module d1/m1".
func (d *SimulatedDevice) String() string {
	if d.key.ModuleID == "" {
		return "device " + d.key.DeviceID
	}
	return "module " + d.key.DeviceID + "/" + d.key.ModuleID
}

// Connect connects the device to the hub: its connectionState becomes
// Connected (and, for a device, the service statistics count it) and its
// handlers start to receive calls. It fails with ErrDeviceDisabled for a
// disabled device, with an error matching iothub.ErrDeviceNotFound or
// iothub.ErrModuleNotFound when the identity was deleted, and with
// ErrEmulatorClosed after Close. Connecting a connected device does
// nothing; connecting again after Disconnect works.
func (d *SimulatedDevice) Connect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.mu.Lock()
	connected := d.conn != nil
	d.mu.Unlock()
	if connected {
		return nil
	}
	hub := d.e.hub
	if hub.Closing() {
		return ErrEmulatorClosed
	}
	if err := hub.CheckCanConnect(d.key); err != nil {
		return fmt.Errorf("emulator: connecting %s: %w", d, err)
	}
	c := &simConn{d: d, done: make(chan struct{})}
	d.mu.Lock()
	d.conn = c
	d.mu.Unlock()
	c.session = hub.Sessions().Connect(d.key, c)
	d.subscribe(c)
	// A disable, delete or Close that raced with this connection either
	// kicked the session above or shows now.
	if hub.Closing() {
		hub.Sessions().Disconnect(c.session)
		c.close(ErrEmulatorClosed)
		return ErrEmulatorClosed
	}
	if err := hub.CheckCanConnect(d.key); err != nil {
		hub.Sessions().Disconnect(c.session)
		c.close(err)
		return fmt.Errorf("emulator: connecting %s: %w", d, err)
	}
	if err := c.closedErr(); err != nil {
		return fmt.Errorf("emulator: connecting %s: %w", d, err)
	}
	return nil
}

// Disconnect closes the connection, as a device that goes offline: its
// connectionState becomes Disconnected, calls waiting for its answer fail
// with 404103 DeviceNotOnline, and the contexts of its running handlers
// end. It does nothing when the device is not connected.
func (d *SimulatedDevice) Disconnect() {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c == nil {
		return
	}
	if c.session != nil {
		d.e.hub.Sessions().Disconnect(c.session)
	}
	c.close(nil)
}

// Connected reports whether the device is connected now (a disable, a
// delete or a newer connection of the same identity disconnects it).
func (d *SimulatedDevice) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn != nil
}

// subscribe tells the hub which operations the connection takes, from the
// handlers set now; connMu held.
func (d *SimulatedDevice) subscribe(c *simConn) {
	d.mu.Lock()
	methods := len(d.handlers) > 0 || d.fallback != nil
	desired := d.onDesired != nil
	d.mu.Unlock()
	if c != nil && c.session != nil {
		d.e.hub.Sessions().Subscribe(c.session, methods, desired)
	}
}

// resubscribe applies a change of handlers to the current connection.
func (d *SimulatedDevice) resubscribe() {
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	d.subscribe(c)
}

// HandleMethod sets the handler of the direct method name; a nil fn
// removes it. Setting the first handler subscribes the device to direct
// methods; removing the last one (with no default handler) unsubscribes
// it. Handlers may be set before or after Connect.
func (d *SimulatedDevice) HandleMethod(name string, fn MethodHandler) {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.mu.Lock()
	if fn == nil {
		delete(d.handlers, name)
	} else {
		d.handlers[name] = fn
	}
	d.mu.Unlock()
	d.resubscribe()
}

// HandleDefault sets the handler of the methods that have none of their
// own; nil removes it, and such methods are answered 501 again. Like
// HandleMethod, it subscribes the device to direct methods.
func (d *SimulatedDevice) HandleDefault(fn DefaultMethodHandler) {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.mu.Lock()
	d.fallback = fn
	d.mu.Unlock()
	d.resubscribe()
}

// OnDesiredProperties sets the callback that receives the desired
// properties the service writes, and subscribes the device to them (nil
// unsubscribes). patch is what changed, as the hub sends it to devices: a
// twin PATCH delivers the merge patch the service sent (a nil value means
// the property was deleted), a twin PUT the whole new desired properties;
// version is the new desired $version. Values are as encoding/json decodes
// them into an any (numbers are float64). Updates made while the device is
// not subscribed are not delivered later; read Twin after connecting to
// catch up, as real devices do.
func (d *SimulatedDevice) OnDesiredProperties(fn func(patch map[string]any, version int64)) {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.mu.Lock()
	d.onDesired = fn
	d.mu.Unlock()
	d.resubscribe()
}

// ReportProperties merges patch into the device's reported properties, as
// a device does over MQTT: objects merge and a nil value deletes a
// property. It returns the new reported $version. It fails with
// ErrNotConnected when the device is not connected, and with an
// *iothub.Error (400004 ArgumentInvalid, 400006 IotHubFormatError, …) when
// patch breaks the hub's rules for twins (names, depth, sizes).
func (d *SimulatedDevice) ReportProperties(ctx context.Context, patch map[string]any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !d.Connected() {
		return 0, ErrNotConnected
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "The reported properties do not encode as JSON: "+err.Error())
	}
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "The reported properties are not a JSON object")
	}
	if body == nil {
		return 0, iothub.NewError(iothub.CodeArgumentInvalid, "The reported properties are not a JSON object")
	}
	version, err := d.e.hub.UpdateReported(d.key, body)
	if err != nil {
		return 0, err
	}
	return version, nil
}

// DeviceTwin is a twin as a device sees it: desired and reported
// properties, each with its "$version" and without "$metadata"; tags are
// the service's and never reach the device. Values are as encoding/json
// decodes them into an any.
type DeviceTwin struct {
	Desired  map[string]any `json:"desired"`
	Reported map[string]any `json:"reported"`
}

// Twin reads the device's twin as the device sees it (the GET a device
// sends over MQTT). It fails with ErrNotConnected when the device is not
// connected.
func (d *SimulatedDevice) Twin(ctx context.Context) (*DeviceTwin, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !d.Connected() {
		return nil, ErrNotConnected
	}
	raw, err := d.e.hub.DeviceTwin(d.key)
	if err != nil {
		return nil, err
	}
	out := new(DeviceTwin)
	if err := json.Unmarshal(raw, out); err != nil {
		return nil, err
	}
	return out, nil
}

// deliverDesired queues an update for the callback; one goroutine at a
// time delivers the queue in order, and ends when it is empty.
func (d *SimulatedDevice) deliverDesired(u desiredUpdate) {
	d.mu.Lock()
	d.pending = append(d.pending, u)
	if d.draining {
		d.mu.Unlock()
		return
	}
	d.draining = true
	d.mu.Unlock()
	go d.drainDesired()
}

func (d *SimulatedDevice) drainDesired() {
	for {
		d.mu.Lock()
		if len(d.pending) == 0 {
			d.draining = false
			d.mu.Unlock()
			return
		}
		u := d.pending[0]
		d.pending[0] = desiredUpdate{}
		d.pending = d.pending[1:]
		fn := d.onDesired
		d.mu.Unlock()
		if fn != nil {
			fn(u.patch, u.version)
		}
	}
}

// simConn is one connection of a SimulatedDevice: the endpoint the hub's
// session manager talks to.
type simConn struct {
	d       *SimulatedDevice
	session *sessions.Session // set once, by Connect under connMu
	done    chan struct{}     // closed when the connection ends

	mu     sync.Mutex
	reason error // why the hub ended it; nil for Disconnect
	ended  bool
}

var _ sessions.Endpoint = (*simConn)(nil)

// errConnectionLost is what InvokeMethod returns when the connection
// closes during a call.
var errConnectionLost = errors.New("emulator: the device's connection closed during the call")

// close ends the connection once, detaching it from its device.
func (c *simConn) close(reason error) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended, c.reason = true, reason
	close(c.done)
	c.mu.Unlock()
	d := c.d
	d.mu.Lock()
	if d.conn == c {
		d.conn = nil
	}
	d.mu.Unlock()
}

// closedErr returns why the hub ended the connection, or nil while it
// lives (or when the device itself disconnected).
func (c *simConn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		return nil
	}
	if c.reason == nil {
		return ErrNotConnected
	}
	return c.reason
}

// Closed implements sessions.Endpoint.
func (c *simConn) Closed(reason error) {
	if errors.Is(reason, sessions.ErrReplaced) {
		reason = ErrConnectionReplaced
	}
	c.close(reason)
}

// DesiredPropertiesChanged implements sessions.Endpoint; it never blocks.
func (c *simConn) DesiredPropertiesChanged(patch map[string]any, version int64) {
	// Re-decode as a device would, which also copies the hub's maps.
	raw, err := json.Marshal(patch)
	if err != nil {
		return
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		return
	}
	c.d.deliverDesired(desiredUpdate{patch: p, version: version})
}

type methodResult struct {
	status  int
	payload json.RawMessage
}

// InvokeMethod implements sessions.Endpoint: it runs the handler in a
// goroutine of its own and waits for its answer, the end of ctx or the
// end of the connection.
func (c *simConn) InvokeMethod(ctx context.Context, name string, payload json.RawMessage) (int, json.RawMessage, error) {
	d := c.d
	d.mu.Lock()
	h, fallback := d.handlers[name], d.fallback
	d.mu.Unlock()
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel() // the handler's ctx ends when the hub stops waiting
	done := make(chan methodResult, 1)
	go func() { done <- runHandler(hctx, h, fallback, name, payload) }()
	select {
	case r := <-done:
		d.e.hub.Touch(d.key)
		return r.status, r.payload, nil
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-c.done:
		return 0, nil, errConnectionLost
	}
}

// runHandler answers one call the way the official device SDKs do.
func runHandler(ctx context.Context, h MethodHandler, fallback DefaultMethodHandler, name string, payload json.RawMessage) (res methodResult) {
	if h == nil && fallback == nil {
		return methodResult{status: StatusMethodNotImplemented}
	}
	defer func() {
		if recover() != nil {
			res = methodResult{status: StatusUserCodeException}
		}
	}()
	var status int
	var resp any
	if h != nil {
		status, resp = h(ctx, payload)
	} else {
		status, resp = fallback(ctx, name, payload)
	}
	out, ok := encodeResponse(resp)
	if !ok {
		return methodResult{status: StatusUserCodeException}
	}
	return methodResult{status: status, payload: out}
}

// encodeResponse encodes a handler's response; nil stays nil (JSON null).
func encodeResponse(resp any) (json.RawMessage, bool) {
	switch r := resp.(type) {
	case nil:
		return nil, true
	case json.RawMessage:
		if r == nil {
			return nil, true
		}
		if !json.Valid(r) {
			return nil, false
		}
		return bytes.Clone(r), true
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, false
	}
	return b, true
}
