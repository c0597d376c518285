// Package eventhubs is the emulator's built-in, Event Hub-compatible
// endpoint: where device-to-cloud telemetry lands and where consumers such
// as azeventhubs, or this module's eventhub package, read it over AMQP.
//
// A Hub keeps each partition as a log of encoded AMQP messages, written once
// by Append with the annotations Event Hubs and IoT Hub add (x-opt-offset,
// x-opt-sequence-number, x-opt-enqueued-time, iothub-connection-device-id,
// iothub-message-source and the rest). Sequence numbers start at 0; offsets
// are byte positions in the partition's stream. Retention drops events by age
// and by total size, oldest first.
//
// Register adds three kinds of nodes to an amqpserver.Server:
//
//   - "<entity>/ConsumerGroups/<group>/Partitions/<id>": a receiver starts
//     where its apache.org:selector-filter:string filter says (earliest when
//     it has none) and gets events as its credit allows, new ones as soon as
//     they are appended (with Options.DB, once they are on disk). The
//     com.microsoft:epoch attach property makes it the partition's owner in
//     its consumer group; every rule and error condition follows Event Hubs
//     (amqp:link:stolen, at most five plain receivers with
//     amqp:resource-limit-exceeded, amqp:not-found).
//   - "$management" (the address azeventhubs uses) and
//     "<entity>/$management": READ of com.microsoft:eventhub and
//     com.microsoft:partition, answered with status-code and
//     status-description application properties.
//   - "messages/events…": the IoT Hub address of telemetry, which refuses
//     receivers with amqp:link:redirect to the entity, as IoT Hub does.
//
// With Options.DB, a state directory, the hub survives restarts: Open
// reads back the events still within retention, each partition's
// numbering (so sequence numbers and offsets go on growing even when every
// event expired), the creation time and the consumer groups, and Append
// returns once its event is on disk. Readers see only events on disk:
// receivers, partition properties, the runtime metric and start positions
// end at the last committed event, so an event a crash loses was never
// read, and a consumer's checkpoint never points at a number the restarted
// hub gives again. store.go describes the records.
//
// Options.Authorize is the seam for the claims-based security node: it is
// asked before every attach and management request.
package eventhubs
