// Package bench holds side-by-side tests and benchmarks of the emulator and
// the SDK against other clients. It is a module of its own so that those
// clients (the official Event Hubs SDK, azeventhubs) never become
// dependencies of the library.
//
// The tests prove the emulator's built-in Event Hub-compatible endpoint to
// an independent client: azeventhubs reads the telemetry of simulated
// devices with nothing but e.EventHubConnectionString().
//
// Run with:
//
//	cd bench && go test -race ./...
//	cd bench && go test -run '^$' -bench . -benchtime 1x ./...
package bench
