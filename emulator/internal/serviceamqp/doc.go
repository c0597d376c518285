// Package serviceamqp is the emulator's service AMQP front end: what the
// service SDKs use over AMQP 1.0 (or AMQP over WebSockets). It puts on the
// AMQP engine (internal/amqpserver) the claims-based security of $cbs
// (internal/cbs: SAS tokens of the policies, checked by the hub core, and
// the emulator's Entra ID tokens, checked through a hook), SASL PLAIN in
// its IoT Hub and Event Hubs forms, and the nodes of the hub core's C2D
// queues (/messages/devicebound, feedback, file notifications) and of the
// built-in Event Hub-compatible endpoint, with the redirect that sends
// readers of messages/events there.
//
// It is thin: the queues and partitions are the core's (it opens them,
// choosing how their AMQP side is advertised and authorised); it decides
// who may attach. It depends on the hub core, internal/amqpserver,
// internal/cbs, internal/eventhubs, internal/entra's data actions and the
// SDK's auth (token types).
package serviceamqp
