// Package c2d sends cloud-to-device messages and follows what becomes of
// them: delivery feedback (completed, rejected, expired, dead-lettered,
// purged), notifications of files devices uploaded, and purges of a
// device's queue.
//
// Messages travel over AMQP on one connection per Client, opened on first
// use and shared by everything the client does; it reconnects on its own
// after a failure. Send returns once the hub has queued the message (or
// refused it); concurrent sends are pipelined on one link. A message whose
// fate is unknown because the connection failed while it was in flight is
// reported as an error to its caller — never dropped silently, never
// reported as sent twice.
package c2d
