package eventhub

import (
	"context"
	"time"
)

// CheckpointStore keeps partition ownership and checkpoints for Processors.
//
// Every Processor that reads the same event hub with the same consumer group
// must use the same store (the same directory, the same blob container): the
// store is the only thing they share, and the ETags it hands out are what
// stops two of them from reading one partition at the same time.
//
// Implementations must be safe for concurrent use. Package
// eventhub/checkpoints has an in-memory, a file and an Azure Blob Storage
// implementation.
type CheckpointStore interface {
	// ListOwnership returns every ownership record of the event hub eventHub in
	// namespace, for consumerGroup, in no particular order. Records of other
	// namespaces, event hubs or consumer groups are never included. A record
	// whose OwnerID is empty has been relinquished: the partition is free.
	ListOwnership(ctx context.Context, namespace, eventHub, consumerGroup string) ([]Ownership, error)

	// ClaimOwnership tries to claim each given ownership, conditioned on its ETag (empty ETag = must not exist yet);
	// it returns the ones claimed, with their new ETag and LastModifiedTime; a lost race is not an error, just absent.
	//
	// The ETag of each input must be the one last read with ListOwnership (or
	// returned by an earlier claim): a claim succeeds only if nobody has
	// written the record since, so of several processes claiming one
	// partition with the same ETag exactly one wins. A claim with an empty
	// ETag creates the record and fails if it already exists. Renewing an
	// ownership is claiming it again with its current ETag; relinquishing it
	// is claiming it with OwnerID "" (the record stays, free for anyone to
	// claim with its new ETag).
	//
	// An error means the store could not be asked (I/O, network,
	// permissions, an invalid name); claims made before the error may have
	// succeeded, so the caller should list ownership again before trusting
	// its own view.
	ClaimOwnership(ctx context.Context, ownerships []Ownership) ([]Ownership, error)

	// ListCheckpoints returns every checkpoint of the event hub eventHub in
	// namespace, for consumerGroup, in no particular order. A partition with
	// no checkpoint is absent; its reader starts from the Processor's default
	// start position.
	ListCheckpoints(ctx context.Context, namespace, eventHub, consumerGroup string) ([]Checkpoint, error)

	// SetCheckpoint records how far the partition has been handled,
	// replacing any earlier checkpoint of that partition. It is not
	// conditional: the caller must own the partition, or two processes may
	// move the checkpoint back and forth. At least one of Offset and
	// SequenceNumber must be set.
	SetCheckpoint(ctx context.Context, checkpoint Checkpoint) error
}

// Ownership records which Processor reads a partition.
type Ownership struct {
	// Namespace is the fully qualified host of the Event Hubs namespace, e.g.
	// "myhub-ns.servicebus.windows.net", or "127.0.0.1:40123" for the emulator.
	Namespace string
	// EventHub is the event hub (entity) name, e.g. the hub's built-in
	// endpoint name.
	EventHub string
	// ConsumerGroup is the consumer group, e.g. "$Default".
	ConsumerGroup string
	// PartitionID is the partition, e.g. "0".
	PartitionID string
	// OwnerID identifies the owning Processor; empty means the partition was
	// relinquished and is free.
	OwnerID string
	// LastModifiedTime is when the record was last written, by the store's
	// clock. Processors treat an ownership not renewed for a while as expired.
	LastModifiedTime time.Time
	// ETag is the store's version of the record, opaque to callers. Empty on
	// input to ClaimOwnership means "the record must not exist yet".
	ETag string
}

// Checkpoint records the last event of a partition that was fully handled;
// a reader resumes after it.
type Checkpoint struct {
	// Namespace is the fully qualified host of the Event Hubs namespace.
	Namespace string
	// EventHub is the event hub (entity) name.
	EventHub string
	// ConsumerGroup is the consumer group, e.g. "$Default".
	ConsumerGroup string
	// PartitionID is the partition, e.g. "0".
	PartitionID string
	// Offset is the event's offset, as the service reports it (a string, as
	// the service may not use numbers). Nil when unknown. Stores keep it as
	// text that must survive an HTTP header (Blob Storage metadata): printable
	// ASCII without surrounding spaces, which every service offset is.
	Offset *string
	// SequenceNumber is the event's sequence number. Nil when unknown.
	SequenceNumber *int64
}
