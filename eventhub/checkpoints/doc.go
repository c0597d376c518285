// Package checkpoints holds the [eventhub.CheckpointStore] implementations:
// where Processors record which of them reads each partition (ownership) and
// how far each partition has been handled (checkpoints).
//
//   - [MemoryStore] lives in one process; for tests, and for a single
//     Processor that may start over from its default position after a restart.
//   - [FileStore] keeps one small file per record in a directory; it is the
//     default for Processors on one machine, in one process or several.
//   - [BlobStore] keeps one blob per record in an Azure Storage container,
//     with the names and metadata of the official Event Hubs checkpoint
//     stores, so Processors on many machines can share partitions, and a
//     consumer written with an official SDK can take over our checkpoints.
//
// All three share the same semantics. Names are case-insensitive, as Event
// Hubs names are: "$Default" and "$default" are the same consumer group.
// Listed records carry the namespace, event hub and consumer group exactly as
// the caller passed them, and the partition ID in lower case. Every claim is
// conditional on the ETag the caller last saw, so of two Processors racing
// for a partition exactly one wins; the loser's claim is absent from the
// result and is not an error.
//
// Every error these stores return is an [*Error], with a stable [ErrorCode];
// [errors.Is] matches it against [ErrInvalidName], [ErrInvalidArgument],
// [ErrInvalidCheckpoint], [ErrCorruptRecord] and [ErrStorage]. The text of an
// error, and of every cause it unwraps to, never holds account keys or SAS
// tokens.
package checkpoints
