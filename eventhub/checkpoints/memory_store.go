package checkpoints

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/eventhub"
)

// MemoryStore is an [eventhub.CheckpointStore] that keeps its records in the
// memory of one process. It is safe for concurrent use and has the same ETag
// semantics as the durable stores, so it serves well in tests of code that
// balances partitions. Everything is lost when the process ends.
type MemoryStore struct {
	mu          sync.Mutex
	lastETag    uint64
	ownerships  map[string]memoryOwnership // by record name
	checkpoints map[string]memoryCheckpoint
}

type memoryOwnership struct {
	ownerID      string
	lastModified time.Time
	etag         string
}

type memoryCheckpoint struct {
	offset         *string
	sequenceNumber *int64
}

var _ eventhub.CheckpointStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		ownerships:  make(map[string]memoryOwnership),
		checkpoints: make(map[string]memoryCheckpoint),
	}
}

// ListOwnership implements [eventhub.CheckpointStore].
func (m *MemoryStore) ListOwnership(ctx context.Context, namespace, eventHub, consumerGroup string) ([]eventhub.Ownership, error) {
	const op = "ListOwnership"
	s := scope{namespace, eventHub, consumerGroup}
	if err := s.validate(op); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, storageError(op, "", err)
	}
	prefix := s.prefix(kindOwnership)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []eventhub.Ownership
	for name, r := range m.ownerships {
		if partition, ok := strings.CutPrefix(name, prefix); ok {
			out = append(out, eventhub.Ownership{
				Namespace: namespace, EventHub: eventHub, ConsumerGroup: consumerGroup, PartitionID: partition,
				OwnerID: r.ownerID, LastModifiedTime: r.lastModified, ETag: r.etag,
			})
		}
	}
	return out, nil
}

// ClaimOwnership implements [eventhub.CheckpointStore].
func (m *MemoryStore) ClaimOwnership(ctx context.Context, ownerships []eventhub.Ownership) ([]eventhub.Ownership, error) {
	const op = "ClaimOwnership"
	names := make([]string, len(ownerships))
	for i, o := range ownerships {
		s := scope{o.Namespace, o.EventHub, o.ConsumerGroup}
		if err := s.validate(op); err != nil {
			return nil, err
		}
		if err := validPartition(op, o.PartitionID); err != nil {
			return nil, err
		}
		if err := validOwner(op, o.OwnerID); err != nil {
			return nil, err
		}
		names[i] = s.recordName(kindOwnership, o.PartitionID)
	}
	if err := ctx.Err(); err != nil {
		return nil, storageError(op, "", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var claimed []eventhub.Ownership
	for i, o := range ownerships {
		cur, exists := m.ownerships[names[i]]
		if o.ETag == "" && exists || o.ETag != "" && (!exists || cur.etag != o.ETag) {
			continue // someone else wrote it first
		}
		m.lastETag++
		r := memoryOwnership{ownerID: o.OwnerID, lastModified: time.Now().UTC().Round(0), etag: strconv.FormatUint(m.lastETag, 10)}
		m.ownerships[names[i]] = r
		o.LastModifiedTime, o.ETag = r.lastModified, r.etag
		claimed = append(claimed, o)
	}
	return claimed, nil
}

// ListCheckpoints implements [eventhub.CheckpointStore].
func (m *MemoryStore) ListCheckpoints(ctx context.Context, namespace, eventHub, consumerGroup string) ([]eventhub.Checkpoint, error) {
	const op = "ListCheckpoints"
	s := scope{namespace, eventHub, consumerGroup}
	if err := s.validate(op); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, storageError(op, "", err)
	}
	prefix := s.prefix(kindCheckpoint)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []eventhub.Checkpoint
	for name, r := range m.checkpoints {
		if partition, ok := strings.CutPrefix(name, prefix); ok {
			out = append(out, eventhub.Checkpoint{
				Namespace: namespace, EventHub: eventHub, ConsumerGroup: consumerGroup, PartitionID: partition,
				Offset: clonePtr(r.offset), SequenceNumber: clonePtr(r.sequenceNumber),
			})
		}
	}
	return out, nil
}

// SetCheckpoint implements [eventhub.CheckpointStore].
func (m *MemoryStore) SetCheckpoint(ctx context.Context, checkpoint eventhub.Checkpoint) error {
	const op = "SetCheckpoint"
	name, err := checkpointName(op, checkpoint)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return storageError(op, name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkpoints[name] = memoryCheckpoint{offset: clonePtr(checkpoint.Offset), sequenceNumber: clonePtr(checkpoint.SequenceNumber)}
	return nil
}

// checkpointName validates c and returns its record name.
func checkpointName(op string, c eventhub.Checkpoint) (string, error) {
	s := scope{c.Namespace, c.EventHub, c.ConsumerGroup}
	if err := s.validate(op); err != nil {
		return "", err
	}
	if err := validPartition(op, c.PartitionID); err != nil {
		return "", err
	}
	name := s.recordName(kindCheckpoint, c.PartitionID)
	if c.Offset == nil && c.SequenceNumber == nil {
		return "", newError(op, CodeInvalidCheckpoint, name, "neither offset nor sequence number is set")
	}
	if c.Offset != nil && !headerSafe(*c.Offset) {
		return "", newError(op, CodeInvalidCheckpoint, name, fmt.Sprintf("offset %q is not printable ASCII without surrounding spaces", *c.Offset))
	}
	return name, nil
}

// clonePtr copies *p so that a caller's later change to its variable does
// not reach the store, nor the store's to the caller.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
