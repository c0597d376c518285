package twin_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
)

// BenchmarkGetTwin measures one twin read through the emulator (allocs/op
// covers client and emulator, which share the process).
func BenchmarkGetTwin(b *testing.B) {
	_, c := newHub(b, seeded(emulator.DeviceSeed{DeviceID: "d1",
		Tags: map[string]any{"building": "43", "floor": 2}, Desired: map[string]any{"fan": map[string]any{"speed": 3}}}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, err := c.Get(ctx, "d1")
		require.NoError(b, err)
	}
}
