// Package eventhub reads device telemetry from an IoT Hub's built-in,
// Event Hub-compatible endpoint.
//
// A Processor spreads the hub's partitions over every process that reads with
// the same consumer group, and records how far each partition has been
// handled. Both facts live in a [CheckpointStore]: the partition ownership
// records the processes compete for, and the checkpoints a restarted process
// resumes from. Package eventhub/checkpoints has three stores: in memory (tests),
// in files (one machine, the default) and in Azure Blob Storage (many machines,
// the layout the official Event Hubs SDKs use).
//
// Delivery is at-least-once: events after the last checkpoint are read again
// after a restart or when a partition changes owner.
package eventhub
