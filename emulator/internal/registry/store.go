package registry

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// Store is the in-memory identity registry. The zero value is not usable;
// call New.
type Store struct {
	now func() time.Time
	db  *persist.DB // nil: nothing is kept

	mu         sync.RWMutex
	devices    map[string]*deviceRecord
	deviceKeys keyIndex // device ids, ordered
	moduleKeys keyIndex // ModuleKey(deviceID, moduleID), ordered
	seq        uint64   // source of ETags and generation ids
	connected  int      // devices whose ConnectionState is Connected
}

// Options configure a Store.
type Options struct {
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
	// DB keeps every identity and twin in a state directory, and Open
	// reads back what an earlier run kept; each change returns once it is
	// on disk. Default: nil (nothing is kept).
	DB *persist.DB
}

// New returns an empty Store that keeps nothing (Options.DB is ignored;
// use Open for a Store with a state directory).
func New(opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.DB = nil
	s, _ := Open(&o) // cannot fail without a DB
	return s
}

// Open returns a Store holding what Options.DB kept (empty without one).
func Open(opts *Options) (*Store, error) {
	s := &Store{now: time.Now, devices: make(map[string]*deviceRecord), deviceKeys: newKeyIndex(), moduleKeys: newKeyIndex()}
	if opts != nil {
		if opts.Now != nil {
			s.now = opts.Now
		}
		s.db = opts.DB
	}
	if s.db != nil {
		if err := s.load(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Session is the per-device state of a connected (simulated or real)
// device: later milestones keep the cloud-to-device queue and the open
// links here. It lives and dies with the device identity.
type Session struct {
	// Values holds state that front ends attach to the device, by name.
	Values map[string]any
}

type deviceRecord struct {
	dev     Device
	twin    twinState
	modules map[string]*moduleRecord
	session Session
}

type moduleRecord struct {
	mod  Module
	twin twinState
}

// ModuleKey is the key of a module in ScanModules: the device id, a NUL
// byte and the module id. NUL sorts before every character an id may hold,
// so keys sort by device id, then module id.
func ModuleKey(deviceID, moduleID string) string {
	return deviceID + "\x00" + moduleID
}

// SplitModuleKey undoes ModuleKey.
func SplitModuleKey(key string) (deviceID, moduleID string) {
	deviceID, moduleID, _ = strings.Cut(key, "\x00")
	return deviceID, moduleID
}

// nextSeq returns a number never returned before by this store; mu held.
func (s *Store) nextSeq() uint64 {
	s.seq++
	return s.seq
}

// newIdentityETag returns an identity ETag in the hub's form: the base64 of
// a decimal number ("MTIz").
func (s *Store) newIdentityETag() string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatUint(s.nextSeq(), 10)))
}

// newTwinETag returns a twin ETag in the hub's form: the base64 of a
// big-endian 64-bit number ("AAAAAAAAAAE=").
func (s *Store) newTwinETag() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s.nextSeq())
	return base64.StdEncoding.EncodeToString(b[:])
}

// newGenerationID returns a generation id in the hub's form: a decimal
// number of 18 digits, different for every identity ever created here.
func (s *Store) newGenerationID() string {
	ticks := uint64(s.now().UnixNano()/100) + 621355968000000000 // .NET ticks
	return strconv.FormatUint(ticks+s.nextSeq(), 10)
}

// Len returns the number of devices.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.devices)
}

// Statistics counts the devices, as GET /statistics/devices reports them.
type Statistics struct {
	TotalDeviceCount, EnabledDeviceCount, DisabledDeviceCount int64
}

// Statistics returns the registry statistics, up to date with every change.
func (s *Store) Statistics() Statistics {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var st Statistics
	for _, r := range s.devices {
		st.TotalDeviceCount++
		if r.dev.Status == StatusDisabled {
			st.DisabledDeviceCount++
		} else {
			st.EnabledDeviceCount++
		}
	}
	return st
}

// ConnectedDeviceCount returns how many devices are connected now.
func (s *Store) ConnectedDeviceCount() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(s.connected)
}

// scanBatch is how many documents Scan builds per read lock, so that a
// long scan does not hold writers off.
const scanBatch = 128

// Scan calls fn with the twin document of each device whose id sorts after
// after ("" for the first), in id order, until fn returns false. The
// document is the JSON object GET /twins/{id} answers (as map, with
// json.Number numbers); fn may keep and modify it. Devices changed during a
// scan are seen in their state when their batch is read.
func (s *Store) Scan(after string, fn func(key string, twinDoc map[string]any) bool) {
	s.ScanMatching(after, nil, fn)
}

// ScanMatching is Scan over the devices match accepts (nil: all). match
// sees each twin as a view, under the store's read lock: the document's
// fields, except the $metadata and $version of the desired and reported
// properties, in maps the store shares with the view — match must neither
// keep nor modify anything it reads. Only the documents match accepts are
// built, which is what makes a selective query cheap.
func (s *Store) ScanMatching(after string, match func(view map[string]any) bool, fn func(key string, twinDoc map[string]any) bool) {
	s.scan(after, func() keyIndex { return s.deviceKeys }, match, func(key string, v *twinView) map[string]any {
		r := s.devices[key]
		if r == nil {
			return nil
		}
		if v != nil {
			return v.device(r)
		}
		return deviceTwinDoc(r)
	}, fn)
}

// ScanModules is Scan over module twins, keyed by ModuleKey.
func (s *Store) ScanModules(after string, fn func(key string, twinDoc map[string]any) bool) {
	s.ScanModulesMatching(after, nil, fn)
}

// ScanModulesMatching is ScanMatching over module twins.
func (s *Store) ScanModulesMatching(after string, match func(view map[string]any) bool, fn func(key string, twinDoc map[string]any) bool) {
	s.scan(after, func() keyIndex { return s.moduleKeys }, match, func(key string, v *twinView) map[string]any {
		d, m := SplitModuleKey(key)
		r := s.devices[d]
		if r == nil || r.modules[m] == nil {
			return nil
		}
		if v != nil {
			return v.module(r.modules[m])
		}
		return moduleTwinDoc(r, r.modules[m])
	}, fn)
}

// scanBudget is how many twins a scan examines per read lock, matched or
// not, so that a selective scan does not hold writers off either.
const scanBudget = 1024

// scan walks keys after after in batches: per read lock, up to scanBatch
// documents for fn, from at most scanBudget twins examined. doc builds a
// twin's document, or with a view its view.
func (s *Store) scan(after string, keys func() keyIndex, match func(map[string]any) bool, doc func(string, *twinView) map[string]any, fn func(string, map[string]any) bool) {
	type item struct {
		key string
		doc map[string]any
	}
	var view *twinView
	if match != nil {
		view = newTwinView()
	}
	batch := make([]item, 0, scanBatch)
	for {
		batch = batch[:0]
		more, examined, seen := false, 0, after
		s.mu.RLock()
		keys().after(after, func(k string) bool {
			if len(batch) == scanBatch || examined == scanBudget {
				more = true
				return false
			}
			examined++
			seen = k
			if match != nil {
				if v := doc(k, view); v == nil || !match(v) {
					return true
				}
			}
			if d := doc(k, nil); d != nil {
				batch = append(batch, item{k, d})
			}
			return true
		})
		s.mu.RUnlock()
		for _, it := range batch {
			if !fn(it.key, it.doc) {
				return
			}
		}
		if !more {
			return
		}
		after = seen
	}
}

// UpdateSession runs fn on the session of device deviceID under the
// store's lock; fn must not call back into the store.
func (s *Store) UpdateSession(deviceID string, fn func(*Session)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.devices[deviceID]
	if r == nil {
		return deviceNotFound(deviceID)
	}
	fn(&r.session)
	return nil
}

// SetConnectionState marks a device (moduleID "") or module connected or
// disconnected, updating connectionStateUpdatedTime and lastActivityTime
// and the service statistics. With a state directory the change is
// journalled, not awaited: nobody answers a client with it.
func (s *Store) SetConnectionState(deviceID, moduleID string, connected bool) error {
	tx := s.lockWrite()
	defer tx.endNoWait()
	tx.touch(deviceID)
	r := s.devices[deviceID]
	if r == nil {
		return deviceNotFound(deviceID)
	}
	state := Disconnected
	if connected {
		state = Connected
	}
	now := s.now().UTC()
	if moduleID != "" {
		m := r.modules[moduleID]
		if m == nil {
			return moduleNotFound(deviceID, moduleID)
		}
		if m.mod.ConnectionState != state {
			m.mod.ConnectionState, m.mod.ConnectionStateUpdatedTime = state, now
		}
		m.mod.LastActivityTime = now
		return nil
	}
	if r.dev.ConnectionState != state {
		if connected {
			s.connected++
		} else {
			s.connected--
		}
		r.dev.ConnectionState, r.dev.ConnectionStateUpdatedTime = state, now
	}
	r.dev.LastActivityTime = now
	return nil
}

// activityResolution is how stale Touch lets a lastActivityTime get. IoT
// Hub itself updates the field lazily (its documentation allows minutes);
// skipping updates within a second keeps a device that sends thousands of
// messages a second off the registry's write lock.
const activityResolution = time.Second

// Touch records activity of a connected device (moduleID "") or module,
// such as a telemetry message, a reported-properties write or a method
// answer, in its lastActivityTime, to within activityResolution.
func (s *Store) Touch(deviceID, moduleID string) error {
	now := s.now().UTC()
	s.mu.RLock()
	last, err := s.lastActivityLocked(deviceID, moduleID)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if d := now.Sub(last); d >= 0 && d < activityResolution {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.devices[deviceID]
	if r == nil {
		return deviceNotFound(deviceID)
	}
	if moduleID == "" {
		r.dev.LastActivityTime = now
		return nil
	}
	m := r.modules[moduleID]
	if m == nil {
		return moduleNotFound(deviceID, moduleID)
	}
	m.mod.LastActivityTime = now
	return nil
}

// lastActivityLocked returns the lastActivityTime of a device or module;
// s.mu held (for reading at least).
func (s *Store) lastActivityLocked(deviceID, moduleID string) (time.Time, error) {
	r := s.devices[deviceID]
	if r == nil {
		return time.Time{}, deviceNotFound(deviceID)
	}
	if moduleID == "" {
		return r.dev.LastActivityTime, nil
	}
	m := r.modules[moduleID]
	if m == nil {
		return time.Time{}, moduleNotFound(deviceID, moduleID)
	}
	return m.mod.LastActivityTime, nil
}

// SetC2DCount sets the cloudToDeviceMessageCount of a device (moduleID "")
// or module: the depth of its cloud-to-device queue.
func (s *Store) SetC2DCount(deviceID, moduleID string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.devices[deviceID]
	if r == nil {
		return deviceNotFound(deviceID)
	}
	if moduleID == "" {
		r.dev.CloudToDeviceMessageCount = n
		return nil
	}
	m := r.modules[moduleID]
	if m == nil {
		return moduleNotFound(deviceID, moduleID)
	}
	m.mod.CloudToDeviceMessageCount = n
	return nil
}
