// Package mqttcore gives the MQTT device front end (internal/devicemqtt)
// the hub core: Hub implements devicemqtt.Hub over a core.Hub, so that
// devices connecting over MQTT meet the same identities, credentials
// checks, session layer, twins, C2D queues and telemetry partitions as the
// simulated devices and every other front end.
//
// It is only an adapter, kept apart so that devicemqtt knows nothing of the
// core: the CONNECT check (client id, user name, SAS password) reads
// IoT Hub's MQTT conventions and asks the core; everything else forwards.
// It depends on internal/core and internal/devicemqtt, and on the types
// they share (internal/sessions, devicebound, eventhubs, registry).
package mqttcore
