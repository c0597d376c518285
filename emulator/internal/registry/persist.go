package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
	"strings"
)

// Buckets of the state directory the registry keeps: one record per device
// (its identity, twin, modules and their twins, as JSON), and the counter
// ETags and generation ids come from, so that they never repeat across
// restarts.
const (
	bucketDevices = "registry.devices"
	bucketMeta    = "registry.meta"
)

var keySeq = []byte("seq")

// writeTx is one change of the store: it holds the write lock and notes
// which devices changed, so that end can journal them.
type writeTx struct {
	s       *Store
	touched []string
}

// lockWrite takes the write lock for a change; end releases it.
func (s *Store) lockWrite() writeTx {
	s.mu.Lock()
	return writeTx{s: s}
}

// touch notes that device id (its identity, twin or modules) may have
// changed; a device that is gone by end is deleted from the state.
func (t *writeTx) touch(id string) {
	if t.s.db != nil {
		t.touched = append(t.touched, id)
	}
}

// end journals the devices touched, in their state now, releases the lock
// and waits until the change is on disk. A failure to write is returned
// through errp unless the change failed already.
func (t *writeTx) end(errp *error) {
	p, err := t.journalLocked()
	t.s.mu.Unlock()
	if err == nil {
		err = p.Wait(context.Background())
	}
	if err != nil && *errp == nil {
		*errp = err
	}
}

// endNoWait is end for changes nobody waits for.
func (t *writeTx) endNoWait() {
	_, _ = t.journalLocked()
	t.s.mu.Unlock()
}

func (t *writeTx) journalLocked() (persist.Pending, error) {
	s := t.s
	if s.db == nil || len(t.touched) == 0 {
		return persist.Pending{}, nil
	}
	ops := make([]persist.Op, 0, len(t.touched)+1)
	slices.Sort(t.touched)
	for _, id := range slices.Compact(t.touched) {
		r := s.devices[id]
		if r == nil {
			ops = append(ops, persist.Delete(bucketDevices, []byte(id)))
			continue
		}
		v, err := encodeDevice(r)
		if err != nil {
			return persist.Pending{}, fmt.Errorf("registry: encoding device %q for the state directory: %w", id, err)
		}
		ops = append(ops, persist.Put(bucketDevices, []byte(id), v))
	}
	ops = append(ops, persist.Put(bucketMeta, keySeq, binary.BigEndian.AppendUint64(nil, s.seq)))
	return s.db.Write(ops...), nil
}

// The records, as JSON. After a restart every identity is disconnected
// until it connects again: one that was connected shows Disconnected since
// the restart. lastActivityTime is kept as of the identity's last journalled
// change (activity alone, a message say, is not journalled).
type (
	deviceRecordJSON struct {
		Device  Device             `json:"device"`
		Twin    twinJSON           `json:"twin"`
		Modules []moduleRecordJSON `json:"modules,omitempty"`
	}
	moduleRecordJSON struct {
		Module Module   `json:"module"`
		Twin   twinJSON `json:"twin"`
	}
	twinJSON struct {
		ModelID  string         `json:"modelId,omitempty"`
		Tags     map[string]any `json:"tags,omitempty"`
		Desired  sectionJSON    `json:"desired"`
		Reported sectionJSON    `json:"reported"`
		Version  int64          `json:"version"`
		ETag     string         `json:"etag"`
	}
	sectionJSON struct {
		Props   map[string]any `json:"props,omitempty"`
		Meta    *metaJSON      `json:"meta"`
		Version int64          `json:"version"`
	}
	metaJSON struct {
		Updated  time.Time            `json:"updated"`
		Version  int64                `json:"version,omitempty"`
		Children map[string]*metaJSON `json:"children,omitempty"`
	}
)

func encodeDevice(r *deviceRecord) ([]byte, error) {
	rec := deviceRecordJSON{Device: r.dev, Twin: twinToJSON(&r.twin)}
	ids := make([]string, 0, len(r.modules))
	for id := range r.modules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := r.modules[id]
		rec.Modules = append(rec.Modules, moduleRecordJSON{Module: m.mod, Twin: twinToJSON(&m.twin)})
	}
	return json.Marshal(rec)
}

func twinToJSON(t *twinState) twinJSON {
	return twinJSON{
		ModelID:  t.modelID,
		Tags:     t.tags,
		Desired:  sectionJSON{Props: t.desired.props, Meta: metaToJSON(t.desired.meta), Version: t.desired.version},
		Reported: sectionJSON{Props: t.reported.props, Meta: metaToJSON(t.reported.meta), Version: t.reported.version},
		Version:  t.version,
		ETag:     t.etag,
	}
}

func metaToJSON(n *metaNode) *metaJSON {
	if n == nil {
		return nil
	}
	out := &metaJSON{Updated: n.updated, Version: n.version}
	if len(n.children) > 0 {
		out.Children = make(map[string]*metaJSON, len(n.children))
		for _, c := range n.children {
			out.Children[c.name] = metaToJSON(c.node)
		}
	}
	return out
}

func decodeDevice(data []byte, now time.Time) (*deviceRecord, error) {
	var rec deviceRecordJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // property values keep their exact JSON numbers
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	if rec.Device.DeviceID == "" {
		return nil, fmt.Errorf("the record has no device id")
	}
	r := &deviceRecord{dev: rec.Device, twin: twinFromJSON(rec.Twin), modules: make(map[string]*moduleRecord, len(rec.Modules))}
	if r.dev.ConnectionState == Connected {
		r.dev.ConnectionStateUpdatedTime = now
	}
	r.dev.ConnectionState = Disconnected
	for _, m := range rec.Modules {
		if m.Module.ModuleID == "" || m.Module.DeviceID != r.dev.DeviceID {
			return nil, fmt.Errorf("module record %q/%q does not belong to the device", m.Module.DeviceID, m.Module.ModuleID)
		}
		mod := m.Module
		if mod.ConnectionState == Connected {
			mod.ConnectionStateUpdatedTime = now
		}
		mod.ConnectionState = Disconnected
		r.modules[mod.ModuleID] = &moduleRecord{mod: mod, twin: twinFromJSON(m.Twin)}
	}
	return r, nil
}

func twinFromJSON(t twinJSON) twinState {
	return twinState{
		modelID:  t.ModelID,
		tags:     orEmpty(t.Tags),
		desired:  section{props: orEmpty(t.Desired.Props), meta: metaFromJSON(t.Desired.Meta), version: t.Desired.Version},
		reported: section{props: orEmpty(t.Reported.Props), meta: metaFromJSON(t.Reported.Meta), version: t.Reported.Version},
		version:  t.Version,
		etag:     t.ETag,
	}
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func metaFromJSON(n *metaJSON) *metaNode {
	if n == nil {
		return &metaNode{}
	}
	out := &metaNode{updated: n.Updated, version: n.Version}
	if len(n.Children) > 0 {
		out.children = make([]metaChild, 0, len(n.Children))
		for k, c := range n.Children {
			out.children = append(out.children, metaChild{k, metaFromJSON(c)})
		}
		slices.SortFunc(out.children, func(a, b metaChild) int { return strings.Compare(a.name, b.name) })
	}
	return out
}

// load reads back what an earlier run kept in the state directory.
func (s *Store) load() error {
	now := s.now().UTC()
	if v, err := s.db.Get(bucketMeta, keySeq); err != nil {
		return fmt.Errorf("registry: reading the state directory: %w", err)
	} else if len(v) == 8 {
		s.seq = binary.BigEndian.Uint64(v)
	}
	err := s.db.ForEach(bucketDevices, func(k, v []byte) error {
		r, err := decodeDevice(v, now)
		if err != nil {
			return fmt.Errorf("registry: the stored record of device %q is malformed: %w", k, err)
		}
		if r.dev.DeviceID != string(k) {
			return fmt.Errorf("registry: the stored record under %q is device %q", k, r.dev.DeviceID)
		}
		s.devices[r.dev.DeviceID] = r
		s.deviceKeys.insert(r.dev.DeviceID)
		for id := range r.modules {
			s.moduleKeys.insert(ModuleKey(r.dev.DeviceID, id))
		}
		return nil
	})
	return err
}
