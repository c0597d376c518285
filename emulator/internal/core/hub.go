package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/persist"
	"github.com/iotkit-go/iothub/emulator/internal/query"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Options configure a Hub. A nil *Options accepts the defaults.
type Options struct {
	// HubName is the name of the hub: the CA's and the Event
	// Hub-compatible entity's name, and <HubName>.azure-devices.net is one
	// of the names token audiences may use. Default: "emulator".
	HubName string
	// StateDir keeps the hub's state in this directory (created if
	// needed); it must belong to HubName. Default: "" (everything in
	// memory).
	StateDir string
	// Policies are the shared access policies; keys left empty take the
	// kept ones of the same name, or are generated. Default: those kept in
	// StateDir, or DefaultPolicies().
	Policies []Policy
	// Devices are registered at Open, unless kept already. Default: none.
	Devices []Seed
	// DeviceDisabled is why a disabled device may not connect, and what
	// disconnects a device when it is disabled. Default: an error saying
	// so.
	DeviceDisabled error
	// Logger receives diagnostics (never keys or tokens). Default: discard.
	Logger *slog.Logger
}

// errDeviceDisabled is Options.DeviceDisabled's default.
var errDeviceDisabled = errors.New("emulator: device is disabled")

// Hub is the hub core: the identity registry with its twins, the device
// sessions, the query engine, the C2D queues and the telemetry partitions,
// and the rules every front end shares. It is safe for concurrent use.
type Hub struct {
	hubName  string
	logger   *slog.Logger
	now      func() time.Time
	disabled error
	// db keeps the state in Options.StateDir; nil keeps nothing.
	db       *persist.DB
	policies []*Policy // pointers: printing the Hub by reflection never reaches a key
	store    *registry.Store
	queries  *query.Engine

	// hostName and standard are the host clients connect to, and whether
	// it serves the standard ports; aliases are the lower-case host names
	// token audiences may name (see hostAliases). Set once by
	// SetHostName, before anything is served.
	hostName string
	standard bool
	aliases  map[string]bool

	// sessions holds the live device and module connections; its changes
	// keep connectionState and the service statistics up to date.
	sessions *sessions.Manager
	// twinWrites orders twin writes with their desired-property
	// notifications, so that devices see updates in $version order.
	twinWrites sync.Mutex
	// baseCtx ends when Stop is called, ending the direct-method calls that
	// wait for a device; closing refuses new device connections.
	baseCtx    context.Context
	baseCancel context.CancelFunc
	closing    atomic.Bool

	// c2d and events are the C2D queues and the partitions of the built-in
	// endpoint, opened by OpenMessaging.
	c2d            *devicebound.Hub
	events         *eventhubs.Hub
	closeMessaging sync.Once
}

// Open opens the hub's state (Options.StateDir, or none), its policies and
// its registry, and registers Options.Devices.
func Open(opts *Options) (*Hub, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.HubName == "" {
		o.HubName = "emulator"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DeviceDisabled == nil {
		o.DeviceDisabled = errDeviceDisabled
	}
	db, err := openState(o.StateDir, o.HubName, o.Logger)
	if err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened {
			_ = db.Close()
		}
	}()
	policies, err := restorePolicies(db, o.Policies)
	if err != nil {
		return nil, err
	}
	store, err := registry.Open(&registry.Options{DB: db})
	if err != nil {
		return nil, fmt.Errorf("emulator: state directory %s: %w", o.StateDir, err)
	}
	h := &Hub{
		hubName:  o.HubName,
		logger:   o.Logger,
		now:      time.Now,
		disabled: o.DeviceDisabled,
		db:       db,
		policies: pointers(policies),
		store:    store,
		queries:  query.NewEngine(nil),
	}
	h.sessions = sessions.NewManager(nil, func(k sessions.Key, connected bool, _ time.Time) {
		// The identity may be gone already (a delete kicks its sessions
		// after the fact); there is nothing left to update then.
		_ = h.store.SetConnectionState(k.DeviceID, k.ModuleID, connected)
	})
	h.baseCtx, h.baseCancel = context.WithCancel(context.Background())
	if err := h.seed(o.Devices); err != nil {
		h.baseCancel()
		return nil, err
	}
	opened = true
	return h, nil
}

// HubName returns the hub's name.
func (h *Hub) HubName() string { return h.hubName }

// Now is the hub's clock.
func (h *Hub) Now() time.Time { return h.now() }

// Registry returns the identity registry, for reads and for the writes
// that concern no live connection; the writes that disable or delete
// identities, and twin writes, go through the Hub's own methods, which
// apply their consequences.
func (h *Hub) Registry() *registry.Store { return h.store }

// Sessions returns the device-session layer, shared by every device front
// end and the simulated devices.
func (h *Hub) Sessions() *sessions.Manager { return h.sessions }

// BaseContext ends when Stop is called: what serves a connection or waits
// for a device derives from it.
func (h *Hub) BaseContext() context.Context { return h.baseCtx }

// Closing reports whether Stop was called; devices may no longer connect.
func (h *Hub) Closing() bool { return h.closing.Load() }

// StatePath returns the path of the state file; "" without a state
// directory.
func (h *Hub) StatePath() string { return h.db.Path() }

// Persistent reports whether the hub keeps its state in a directory.
func (h *Hub) Persistent() bool { return h.db != nil }

// Stop starts the hub's shutdown: it refuses new device connections, ends
// BaseContext and disconnects every device with reason.
func (h *Hub) Stop(reason error) {
	h.closing.Store(true)
	h.baseCancel()
	h.sessions.KickAll(reason)
}

// CloseMessaging closes the C2D queues and the partitions, once the front
// ends that serve them are closed. It may be called more than once.
func (h *Hub) CloseMessaging() {
	h.closeMessaging.Do(func() {
		if h.c2d != nil {
			h.c2d.Close()
		}
		if h.events != nil {
			_ = h.events.Close()
		}
	})
}

// Close ends the hub: BaseContext, the messaging if it is still open, and
// the state directory, once everything that writes has stopped.
func (h *Hub) Close() error {
	h.baseCancel()
	h.CloseMessaging()
	return h.db.Close()
}
