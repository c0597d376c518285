// Package devicebound is the emulator's cloud-to-device messaging: the
// per-device queues with the hub's rules (depth, size, expiry, delivery
// count, locks), the delivery feedback they produce, the file-upload
// notifications, and the AMQP nodes the service side uses for all three
// (/messages/devicebound, /messages/serviceBound/feedback,
// /messages/serviceBound/filenotifications).
//
// With a state directory (Options.DB, opened with Open) the Hub keeps its
// state there as it changes: every queued message with its delivery count
// and its place in the queue, the feedback records not yet batched, and the
// feedback batches and file notifications not yet accepted by a receiver.
// Each change is handed to the DB under the lock that orders it, and the
// call that made it answers once it is on disk: Enqueue (and the service's
// send, whose delivery is settled from another goroutine so that the AMQP
// connection never waits on the disk), Receive, Complete, Reject, Abandon,
// Purge, Forget and NotifyFileUpload. A restart is then a lock time-out for every message a
// device held: each is ready again, in its place, with its delivery count.
//
// Service-bound messages are delivered exactly once across a clean restart
// and at least once across a crash: one accepted just before the crash may
// come again, since its removal may not have reached the disk.
package devicebound
