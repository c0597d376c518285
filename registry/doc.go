// Package registry manages the hub's identity registry: device and module
// identities (create, read, update, delete with ETags), bulk operations over
// any number of devices, and the registry and service statistics.
//
// A Client is safe for concurrent use. Every answer of the hub that is not a
// success is an [*iothub.Error]; test it with [errors.Is]:
//
//	_, err := client.GetDevice(ctx, "sensor-1")
//	if errors.Is(err, iothub.ErrDeviceNotFound) { … }
//
// Arguments are checked before any request is sent: a bad id, a nil device or
// an empty batch fails at once with [iothub.ErrArgumentInvalid].
package registry
