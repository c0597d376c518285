// Package interop holds the suites that run clients this project did not
// write against the emulator: the official Node.js service SDK
// (azure-iothub), the Event Hubs SDK (@azure/event-hubs) and its blob
// checkpoint store, and the device SDK (azure-iot-device over MQTT and
// MQTT over WebSockets), pinned in node/package-lock.json. They prove that the
// emulator behaves as IoT Hub does for any client, not only for ours.
//
// The suites are behind the "interop" build tag, as they need Node.js, the
// packages of node/ (npm ci), Azurite and ports 443, 5671 and 8883 on
// localhost (root, or CAP_NET_BIND_SERVICE). .ci/run prepares all of it and
// runs:
//
//	go test -tags interop -count=1 ./interop/
package interop
