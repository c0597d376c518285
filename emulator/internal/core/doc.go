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
// The front ends (service REST, service AMQP, device MQTT) import core;
// core imports none of them, and only the emulator's internal state
// packages: registry, sessions, query, devicebound, eventhubs and persist.
package core
