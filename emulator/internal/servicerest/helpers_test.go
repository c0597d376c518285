package servicerest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
)

// testHost is the host name the tests' hub answers for.
const testHost = "127.0.0.1:5000"

// newHandler returns the REST front end of a hub in memory with devices
// registered, as the emulator starts one (host name set, messaging open);
// the hub closes when the test ends.
func newHandler(tb testing.TB, devices []core.Seed, opts *Options) (*Handler, *core.Hub) {
	tb.Helper()
	hub, err := core.Open(&core.Options{Devices: devices})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = hub.Close() })
	hub.SetHostName(testHost, false)
	require.NoError(tb, hub.OpenMessaging(eventhubs.Options{}))
	return New(hub, opts), hub
}
