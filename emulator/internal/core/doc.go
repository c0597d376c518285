// Package core is the hub core of the emulator: the state of one IoT hub
// and the rules every front end shares. It holds the identity registry with
// its twins, the shared access policies, the device sessions (where
// simulated devices and devices of every protocol meet), the query engine,
// the C2D queues and the partitions of the built-in Event Hub-compatible
// endpoint, and the optional state directory that keeps them across
// restarts.
//
// The rules are those no front end may apply differently: the checks of
// shared access signatures against the policies and device keys (with the
// hub's host names for audiences), whether an identity may connect, twin
// writes with their desired-property notifications in $version order,
// disconnecting devices that are disabled or deleted, direct methods
// through the sessions, and the C2D queues' and partitions' bookkeeping.
//
// The emulator is this core and a thin package per front end around it,
// wired together by the emulator's root package:
//
//	core         the hub's state and rules (this package)
//	servicerest  the service REST API
//	serviceamqp  the service side of AMQP: CBS, C2D, feedback, file
//	             notifications, the Event Hub-compatible endpoint
//	devicemqtt   devices over MQTT 3.1.1, reaching the core through mqttcore
//	devicehttp   devices over HTTPS: telemetry, C2D polling, file upload
//	deviceamqp   devices over AMQP, on serviceamqp's engine and CBS
//	fileupload   the storage account linked for file uploads
//	listener     ports, protocol sniffing, TLS, WebSocket upgrades
//	entra        Entra ID data actions, roles and tokens
//
// The front ends import core; core imports none of them (nor the listener
// or the root): besides the SDK's iothub (error codes) and auth (SAS
// tokens), only the emulator's internal state packages: registry,
// sessions, query, devicebound, eventhubs and persist.
package core
