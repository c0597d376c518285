// Package iothub holds what every client of this SDK shares: the error type
// with the hub's numeric error codes, the sentinel errors to test them with
// [errors.Is], the retry policy and the client options.
//
// The clients themselves live in the sub-packages:
//
//   - auth: connection strings, SAS tokens and credentials
//   - registry: device and module identities, bulk operations, statistics
//   - twin: device and module twins and the query language
//   - methods: direct methods
//   - c2d: cloud-to-device messages, feedback and file notifications
//   - eventhub: telemetry from the built-in Event Hub-compatible endpoint
//   - emulator: an in-process IoT Hub for tests and demos
//
// Every error a client returns for an answer of the hub is an [*Error], so
//
//	if errors.Is(err, iothub.ErrDeviceNotFound) { … }
//
// works the same whether the answer came over HTTPS or AMQP.
package iothub
