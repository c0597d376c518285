// Package devicemqtt is the emulator's device front end for MQTT 3.1.1, as
// IoT Hub's MQTT support documents it: real devices, and the official
// device SDKs, connect here as they connect to the hub.
//
// It is thin: it speaks the protocol (packets decoded and encoded with
// github.com/mochi-mqtt/server/v2/packets) and maps IoT Hub's topics onto
// the hub core, which it reaches through the Hub interface only: the
// credentials check, the device sessions (the same sessions.Manager the
// emulator's simulated devices use, so that a direct method or a desired
// patch cannot tell the two apart), telemetry, the C2D queues and twins.
//
// What the front end does, topic by topic:
//
//   - CONNECT: client id the device id, or deviceId/moduleId; user name
//     {host}/{deviceId}[/{moduleId}]/?api-version=…[&model-id=…]; password
//     a SAS token (Hub.Authenticate decides). Refusals answer the CONNACK
//     code the hub sends (5 not authorised for credentials and unknown or
//     disabled identities, 2 for a client id the user name does not match,
//     1 for a protocol other than MQTT 3.1.1, 4 for a malformed user name)
//     and close. A token that expires disconnects the device; a second
//     connection of the same identity replaces the first. The keep-alive
//     is clamped to the hub's 1767 s (a client asking 0 gets that), and a
//     connection silent for 1.5 keep-alives is closed.
//   - devices/{id}/messages/events/{property bag} (and the module form),
//     QoS 0 or 1 (PUBACK once stored): the bag's application properties and
//     system properties ($.mid, $.cid, $.ct, $.ce, $.uid, $.to) become the
//     event's. RETAIN is not kept; the event gets the mqtt-retain property,
//     as IoT Hub adds. At most 256 KB; larger closes the connection.
//   - SUBSCRIBE devices/{id}/messages/devicebound/# delivers the C2D queue
//     on devices/{id}/messages/devicebound/{property bag}, QoS 1, one
//     message at a time; PUBACK completes it. A message in flight when the
//     connection ends goes back to the queue (abandoned).
//   - $iothub/methods/POST/# receives direct methods on
//     $iothub/methods/POST/{name}/?$rid={rid}; the device answers on
//     $iothub/methods/res/{status}/?$rid={rid}.
//   - $iothub/twin/GET/?$rid= and $iothub/twin/PATCH/properties/reported/?$rid=
//     answer on $iothub/twin/res/{status}/?$rid=[&$version=] (to a device
//     subscribed to $iothub/twin/res/#); desired patches arrive on
//     $iothub/twin/PATCH/properties/desired/?$version= once subscribed to
//     $iothub/twin/PATCH/properties/desired/#.
//   - A device reaches only its own topics: a SUBSCRIBE to another's is
//     refused in the SUBACK (0x80), a PUBLISH to another's closes the
//     connection, as does QoS 2 (IoT Hub does not support it; a SUBSCRIBE
//     asking QoS 2 is granted 1).
//   - CleanSession 0 keeps the device's subscriptions while it is away:
//     reconnected, it gets C2D messages, methods and desired patches
//     without subscribing again (CONNACK session present). CleanSession 1
//     forgets them. The C2D messages themselves are the hub's queue either
//     way, kept until delivered, expired or purged.
package devicemqtt
