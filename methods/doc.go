// Package methods invokes direct methods on devices and modules: a
// request/response call that reaches the device at once or fails, inside a
// time-out the caller chooses.
//
// A method call is not idempotent: the client never repeats a request that
// may have reached the device; it repeats only answers of throttling (429)
// and failures to connect. The hub's answers map to sentinels:
// [iothub.ErrDeviceNotOnline] (the device did not connect in time),
// [iothub.ErrTimeout] (it did not answer in time), [iothub.ErrDeviceNotFound]
// and [iothub.ErrModuleNotFound]. A device's own status, even 500, is not an
// error: it is [Response.Status].
package methods
