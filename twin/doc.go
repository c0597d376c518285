// Package twin reads and writes device and module twins: tags, desired
// properties (written by the service) and reported properties (written by
// the device), with their versions and metadata.
//
// A Client is safe for concurrent use. Errors of the hub are
// [*iothub.Error]s: an unknown device gives [iothub.ErrDeviceNotFound], a
// stale ETag [iothub.ErrPreconditionFailed].
package twin
