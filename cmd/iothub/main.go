// Command iothub manages an Azure IoT hub from the command line — devices,
// modules, twins, queries, direct methods, cloud-to-device messages,
// telemetry — and runs the local emulator.
//
//	iothub emulator                       # start a local hub; prints its connection strings
//	export IOTHUB_CONNECTION_STRING=…     # or pass --connection-string
//	iothub device create sensor-1
//	iothub invoke sensor-1 reboot --payload '{"delay":5}'
//	iothub query "SELECT * FROM devices WHERE tags.building = '43'"
//
// Output is a table for people, or JSON with --output json for scripts.
// Keys are never printed unless --show-keys is given. On failure the
// command exits with status 1 and prints the hub's error code and message.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}
