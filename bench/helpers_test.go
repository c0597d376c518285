package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

// startHub starts an emulator (plain TCP, so its Event Hub connection
// string says UseDevelopmentEmulator=true) with devices registered.
func startHub(tb testing.TB, partitions int, devices ...string) *emulator.Emulator {
	tb.Helper()
	seeds := make([]emulator.DeviceSeed, len(devices))
	for i, id := range devices {
		seeds[i] = emulator.DeviceSeed{DeviceID: id}
	}
	e, err := emulator.Start(context.Background(), &emulator.Options{Partitions: partitions, Devices: seeds})
	require.NoError(tb, err)
	tb.Cleanup(e.Close)
	return e
}

// connect connects simulated devices, disconnected at the end of the test.
func connect(tb testing.TB, e *emulator.Emulator, ids ...string) []*emulator.SimulatedDevice {
	tb.Helper()
	out := make([]*emulator.SimulatedDevice, len(ids))
	for i, id := range ids {
		d, err := e.Device(id)
		require.NoError(tb, err)
		require.NoError(tb, d.Connect(context.Background()))
		tb.Cleanup(d.Disconnect)
		out[i] = d
	}
	return out
}

// deviceIDs returns n device ids, "dev-000"….
func deviceIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%03d", i)
	}
	return ids
}

// newConsumer opens an azeventhubs ConsumerClient on the emulator's
// built-in endpoint, for the $Default consumer group.
func newConsumer(tb testing.TB, e *emulator.Emulator) *azeventhubs.ConsumerClient {
	tb.Helper()
	cc, err := azeventhubs.NewConsumerClientFromConnectionString(e.EventHubConnectionString(), "", azeventhubs.DefaultConsumerGroup, nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = cc.Close(context.Background()) })
	return cc
}

func ptr[T any](v T) *T { return &v }

// memoryCheckpointStore is an azeventhubs.CheckpointStore in memory, with
// the optimistic concurrency of the blob store: an ownership is claimed
// only if the claim carries the current ETag (none for a new one).
type memoryCheckpointStore struct {
	mu          sync.Mutex
	ownerships  map[string]azeventhubs.Ownership
	checkpoints map[string]azeventhubs.Checkpoint
	etag        int
	setCalls    int
}

func newMemoryCheckpointStore() *memoryCheckpointStore {
	return &memoryCheckpointStore{ownerships: map[string]azeventhubs.Ownership{}, checkpoints: map[string]azeventhubs.Checkpoint{}}
}

func storeKey(ns, hub, group, partition string) string {
	return ns + "/" + hub + "/" + group + "/" + partition
}

func (s *memoryCheckpointStore) ClaimOwnership(ctx context.Context, claims []azeventhubs.Ownership, _ *azeventhubs.ClaimOwnershipOptions) ([]azeventhubs.Ownership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var claimed []azeventhubs.Ownership
	for _, o := range claims {
		k := storeKey(o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup, o.PartitionID)
		cur, exists := s.ownerships[k]
		switch {
		case !exists && o.ETag != nil, exists && (o.ETag == nil || *o.ETag != *cur.ETag):
			continue // someone else changed it first
		}
		s.etag++
		etag := azcore.ETag(fmt.Sprint(s.etag))
		o.ETag = &etag
		o.LastModifiedTime = time.Now()
		s.ownerships[k] = o
		claimed = append(claimed, o)
	}
	return claimed, nil
}

func (s *memoryCheckpointStore) ListCheckpoints(ctx context.Context, ns, hub, group string, _ *azeventhubs.ListCheckpointsOptions) ([]azeventhubs.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []azeventhubs.Checkpoint
	for _, c := range s.checkpoints {
		if c.FullyQualifiedNamespace == ns && c.EventHubName == hub && c.ConsumerGroup == group {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *memoryCheckpointStore) ListOwnership(ctx context.Context, ns, hub, group string, _ *azeventhubs.ListOwnershipOptions) ([]azeventhubs.Ownership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []azeventhubs.Ownership
	for _, o := range s.ownerships {
		if o.FullyQualifiedNamespace == ns && o.EventHubName == hub && o.ConsumerGroup == group {
			out = append(out, o)
		}
	}
	return out, nil
}

func (s *memoryCheckpointStore) SetCheckpoint(ctx context.Context, c azeventhubs.Checkpoint, _ *azeventhubs.SetCheckpointOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkpoints[storeKey(c.FullyQualifiedNamespace, c.EventHubName, c.ConsumerGroup, c.PartitionID)] = c
	s.setCalls++
	return nil
}

// checkpointOf returns the checkpoint of a partition, if any.
func (s *memoryCheckpointStore) checkpointOf(partition string) (azeventhubs.Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.checkpoints {
		if c.PartitionID == partition {
			return c, true
		}
	}
	return azeventhubs.Checkpoint{}, false
}

var _ azeventhubs.CheckpointStore = (*memoryCheckpointStore)(nil)
