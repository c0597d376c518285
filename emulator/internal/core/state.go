package core

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// The hub's own records in the state directory, besides those of the
// registry, the C2D queues and the partitions: which hub the directory
// belongs to, the shared access policies with their keys (so connection
// strings stay valid across restarts), and the CA (so clients that trust
// it keep trusting it).
const bucketEmulator = "emulator"

var (
	keyHub      = []byte("hub")
	keyPolicies = []byte("policies")
	keyCA       = []byte("ca")
)

// hubRecord names the hub a state directory belongs to.
type hubRecord struct {
	HubName string    `json:"hubName"`
	Created time.Time `json:"created"`
}

// policyRecord is a Policy as kept in the state directory.
type policyRecord struct {
	Name         string `json:"name"`
	PrimaryKey   string `json:"primaryKey"`
	SecondaryKey string `json:"secondaryKey"`
	Rights       Rights `json:"rights"`
}

// openState opens dir (nil without one) and checks that it belongs to
// hubName, claiming it for the hub when it is new.
func openState(dir, hubName string, logger *slog.Logger) (*persist.DB, error) {
	if dir == "" {
		return nil, nil
	}
	db, err := persist.Open(dir, &persist.Options{OnError: func(err error) {
		logger.Error("emulator: the state directory cannot be written; changes from now on fail", "dir", dir, "error", err)
	}})
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	fail := func(err error) (*persist.DB, error) {
		_ = db.Close()
		return nil, err
	}
	raw, err := db.Get(bucketEmulator, keyHub)
	if err != nil {
		return fail(fmt.Errorf("emulator: reading the state directory %s: %w", dir, err))
	}
	if raw != nil {
		var h hubRecord
		if err := json.Unmarshal(raw, &h); err != nil {
			return fail(fmt.Errorf("emulator: the state directory %s is damaged (hub record: %v)", dir, err))
		}
		if !strings.EqualFold(h.HubName, hubName) {
			return fail(fmt.Errorf("emulator: the state directory %s holds hub %q, not %q: start with that hub name, or use another directory", dir, h.HubName, hubName))
		}
		return db, nil
	}
	v, _ := json.Marshal(hubRecord{HubName: hubName, Created: time.Now().UTC()})
	if err := db.Write(persist.Put(bucketEmulator, keyHub, v)).Wait(context.Background()); err != nil {
		return fail(fmt.Errorf("emulator: writing the state directory %s: %w", dir, err))
	}
	return db, nil
}

// restorePolicies returns the hub's policies: those asked for (or, when
// none are, those kept in the state directory, or the defaults), where a
// key left empty takes the kept key of the policy of the same name before
// a new one is generated; and keeps them.
func restorePolicies(db *persist.DB, requested []Policy) ([]Policy, error) {
	var kept []Policy
	raw, err := db.Get(bucketEmulator, keyPolicies)
	if err != nil {
		return nil, fmt.Errorf("emulator: reading the kept policies: %w", err)
	}
	if raw != nil {
		var recs []policyRecord
		if err := json.Unmarshal(raw, &recs); err != nil {
			return nil, fmt.Errorf("emulator: the kept policies are damaged: %v", err)
		}
		for _, r := range recs {
			kept = append(kept, Policy{Name: r.Name, PrimaryKey: r.PrimaryKey, SecondaryKey: r.SecondaryKey, Rights: r.Rights})
		}
	}
	in := requested
	if len(in) == 0 {
		in = kept
	}
	in = append([]Policy(nil), in...)
	for i := range in {
		for _, k := range kept {
			if !strings.EqualFold(k.Name, in[i].Name) {
				continue
			}
			if in[i].PrimaryKey == "" {
				in[i].PrimaryKey = k.PrimaryKey
			}
			if in[i].SecondaryKey == "" {
				in[i].SecondaryKey = k.SecondaryKey
			}
		}
	}
	policies, err := preparePolicies(in)
	if err != nil {
		return nil, err
	}
	if db == nil {
		return policies, nil
	}
	recs := make([]policyRecord, len(policies))
	for i, p := range policies {
		recs[i] = policyRecord{Name: p.Name, PrimaryKey: p.PrimaryKey, SecondaryKey: p.SecondaryKey, Rights: p.Rights}
	}
	v, _ := json.Marshal(recs)
	if err := db.Write(persist.Put(bucketEmulator, keyPolicies, v)).Wait(context.Background()); err != nil {
		return nil, fmt.Errorf("emulator: keeping the policies: %w", err)
	}
	return policies, nil
}

// KeptCA returns the CA kept in the state directory (certificate and key
// in PEM form), or nil; the TLS listener keeps it there through KeepCA.
func (h *Hub) KeptCA() ([]byte, error) {
	raw, err := h.db.Get(bucketEmulator, keyCA)
	if err != nil {
		return nil, fmt.Errorf("emulator: reading the kept CA: %w", err)
	}
	return raw, nil
}

// KeepCA keeps the CA in the state directory, returning once it is on
// disk.
func (h *Hub) KeepCA(pem []byte) error {
	if err := h.db.Write(persist.Put(bucketEmulator, keyCA, pem)).Wait(context.Background()); err != nil {
		return fmt.Errorf("emulator: keeping the CA: %w", err)
	}
	return nil
}
