// Package deviceamqp is the emulator's device front end for AMQP: the
// links the official device SDKs (Node's azure-iot-device-amqp, C#'s
// Microsoft.Azure.Devices.Client, the C SDK) open to IoT Hub, over AMQPS
// and AMQP over WebSockets, on the same AMQP engine and the same
// claims-based security as the service side.
//
// A device authenticates with a SAS token put on $cbs (its own, for
// {host}/devices/{id}, or a policy's with DeviceConnect) or with SASL PLAIN
// as {id}@sas.{hub}; modules alike with {id}/modules/{mid}. A selfSigned
// X.509 identity puts no token at all: its TLS client certificate, with
// one of its thumbprints, is its credential. Then, for a
// device at /devices/{id} (a module at /devices/{id}/modules/{mid}):
//
//	/messages/events        the device sends telemetry (at most 256 KB a
//	                        message) into the built-in endpoint
//	/messages/devicebound   the device receives its C2D queue; accepted
//	                        completes a message, rejected rejects it,
//	                        released and modified abandon it (modified with
//	                        undeliverable-here rejects), each with its
//	                        feedback; a message's delivery-tag is its lock
//	                        token
//	/methods/devicebound    a link pair (com.microsoft:channel-correlation-id
//	                        "methods:…"): requests carry the method in the
//	                        IoThub-methodname application property and a
//	                        uuid correlation-id; the device answers on its
//	                        sender with the same correlation-id and the
//	                        status in IoThub-status
//	/twin                   a link pair ("twin:…"): requests carry the
//	                        operation and resource message annotations (GET;
//	                        PATCH /properties/reported; PUT and DELETE
//	                        /notifications/twin/properties/desired) and a
//	                        correlation-id; answers carry status (and version
//	                        after a PATCH) annotations; desired-property
//	                        updates arrive without a correlation-id
//
// Every link needs a live grant over its identity (links whose token lapses
// are detached with amqp:unauthorized-access), and an identity that exists
// and whose device is enabled. The first link of an identity on a connection
// connects the device (its connectionState, direct methods); its last link
// disconnects it. A connection of the same identity elsewhere takes over:
// the old links are detached with amqp:link:stolen. One connection may
// carry several identities, as the SDKs' connection pooling does.
package deviceamqp
