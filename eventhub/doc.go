// Package eventhub reads device telemetry from an IoT Hub's built-in,
// Event Hub-compatible endpoint.
//
// # Consumer
//
// A [Consumer] is created from the hub's own service connection string
// (HostName=…): it asks the hub where the built-in endpoint is — the hub
// refuses a receiver on messages/events with amqp:link:redirect naming the
// endpoint's host and entity — remembers the answer, and asks again when the
// endpoint stops answering (a failover or migration moves it). It also
// accepts the endpoint's Event Hub-compatible connection string
// (Endpoint=sb://…;EntityPath=…) and then connects directly. Its receivers
// share a few AMQP connections, one per core up to 8
// (ConsumerOptions.Connections), each dialled when a receiver first needs
// it and re-established after failures: go-amqp reads a connection in one
// goroutine, so a busy reader of several partitions that put them all on
// one connection would use one core whatever the machine has.
//
// A [PartitionReceiver] reads one partition from a [StartPosition]. When its
// link or connection fails it attaches again after the last event it handed
// out, so a caller sees each event once, in order. With an owner level it is
// the partition's exclusive reader, and a newer reader's takeover ends it
// with [ErrOwnershipLost]. With ReceiverOptions.TrackLastEnqueued the
// service sends where the partition ends along with the events, and
// [PartitionReceiver.LastEnqueued] tells how far behind the reader is.
//
// # Processor
//
// A [Processor] spreads the hub's partitions over every process that reads
// with the same consumer group, and records how far each partition has been
// handled. Both facts live in a [CheckpointStore]: the partition ownership
// records the processes compete for (claimed with ETags, renewed every
// update interval), and the checkpoints a restarted process resumes from.
// Package eventhub/checkpoints has three stores: in memory (tests), in files
// (one machine, the default) and in Azure Blob Storage (many machines, the
// layout the official Event Hubs SDKs use).
//
// Delivery is at-least-once: events after the last checkpoint are read
// again after a crash. The Processor works to make that the only case:
// with automatic checkpoints it checkpoints what it handled before it
// stops, before it hands a partition to a newcomer, and when it finds that
// a partition was taken from it; and a Processor that takes a partition
// from a live owner waits for that checkpoint before it reads.
package eventhub
