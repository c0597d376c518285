// Package registry is the emulator's identity registry: devices, their
// modules, their twins and (later) their session state, held in memory.
//
// It enforces the hub's rules (ID syntax, authentication mechanisms, ETags,
// twin limits) and reports a broken rule as an [*iothub.Error] with the hub's
// code, so every front end of the emulator (REST today, AMQP and MQTT later)
// answers the same way.
//
// A Store is safe for concurrent use. Devices are kept ordered by id and
// modules by (device id, module id), so that a query engine can page through
// them with [Store.Scan] and [Store.ScanModules] from any key on.
package registry
