package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
)

func manyDevices(prefix string, n int) []*registry.Device {
	ds := make([]*registry.Device, n)
	for i := range ds {
		ds[i] = &registry.Device{DeviceID: fmt.Sprintf("%s-%05d", prefix, i)}
	}
	return ds
}

func TestCreateDevicesSplitsIntoCallsOf100(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	ctx := context.Background()
	var mu sync.Mutex
	var progress []int
	res, err := c.CreateDevices(ctx, manyDevices("bulk", 250), &registry.BulkOptions{
		Concurrency: 2,
		Progress: func(done, total int) {
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, 250, total)
			progress = append(progress, done)
		},
	})
	require.NoError(t, err)
	assert.Equal(t, 250, res.Succeeded)
	assert.Empty(t, res.Failed)
	assert.Equal(t, 3, e.RequestCount("POST", "/devices"))
	require.Len(t, progress, 3)
	assert.Equal(t, 250, progress[2])

	stats, err := c.Statistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(250), stats.TotalDeviceCount)
	d, err := c.GetDevice(ctx, "bulk-00123")
	require.NoError(t, err)
	require.NotNil(t, d.Authentication)
	require.NotNil(t, d.Authentication.SymmetricKey)
	assert.NotEmpty(t, d.Authentication.SymmetricKey.PrimaryKey)
}

func TestCreateDevicesReportsEachFailure(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	for _, id := range []string{"mix-00003", "mix-00150"} {
		_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: id})
		require.NoError(t, err)
	}
	res, err := c.CreateDevices(ctx, manyDevices("mix", 200), nil)
	require.Error(t, err)
	var be *registry.BulkError
	require.ErrorAs(t, err, &be)
	assert.Same(t, res, be.Result)
	assert.Equal(t, 198, res.Succeeded)
	require.Len(t, res.Failed, 2)
	failed := map[string]bool{}
	for _, f := range res.Failed {
		failed[f.DeviceID] = true
		assert.ErrorIs(t, f, iothub.ErrDeviceAlreadyExists)
	}
	assert.Equal(t, map[string]bool{"mix-00003": true, "mix-00150": true}, failed)
	assert.ErrorIs(t, err, iothub.ErrDeviceAlreadyExists, "errors.Is sees through the bulk error")
	assert.Contains(t, err.Error(), "2 of 200")
}

func TestUpdateAndDeleteDevices(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	_, err := c.CreateDevices(ctx, manyDevices("u", 120), nil)
	require.NoError(t, err)

	batch := manyDevices("u", 120)
	for _, d := range batch {
		d.ETag = "*"
		d.Status = registry.StatusDisabled
	}
	res, err := c.UpdateDevices(ctx, batch, nil)
	require.NoError(t, err)
	assert.Equal(t, 120, res.Succeeded)
	stats, err := c.Statistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(120), stats.DisabledDeviceCount)

	// Conditional updates: one fresh ETag, one stale.
	fresh, err := c.GetDevice(ctx, "u-00001")
	require.NoError(t, err)
	fresh.Status = registry.StatusEnabled
	stale := &registry.Device{DeviceID: "u-00002", ETag: "c3RhbGU=", Status: registry.StatusEnabled}
	res, err = c.UpdateDevices(ctx, []*registry.Device{fresh, stale}, nil)
	require.ErrorIs(t, err, iothub.ErrPreconditionFailed)
	assert.Equal(t, 1, res.Succeeded)
	require.Len(t, res.Failed, 1)
	assert.Equal(t, "u-00002", res.Failed[0].DeviceID)

	_, err = c.UpdateDevices(ctx, []*registry.Device{{DeviceID: "u-00003"}}, nil)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid, "an update needs an ETag")

	res, err = c.DeleteDevices(ctx, manyDevices("u", 120), nil)
	require.NoError(t, err)
	assert.Equal(t, 120, res.Succeeded)
	stats, err = c.Statistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), stats.TotalDeviceCount)

	res, err = c.DeleteDevices(ctx, []*registry.Device{{DeviceID: "u-00001"}}, nil)
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
	assert.Len(t, res.Failed, 1)
}

func TestBulkValidation(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	ctx := context.Background()
	cases := map[string][]*registry.Device{
		"empty":     nil,
		"nil entry": {{DeviceID: "a"}, nil},
		"bad id":    {{DeviceID: "a"}, {DeviceID: "b c"}},
		"duplicate": {{DeviceID: "a"}, {DeviceID: "b"}, {DeviceID: "a"}},
	}
	for name, ds := range cases {
		_, err := c.CreateDevices(ctx, ds, nil)
		require.ErrorIs(t, err, iothub.ErrArgumentInvalid, name)
	}
	assert.Zero(t, e.RequestCount("", ""), "nothing is sent for a batch with a bad entry")
}

func TestBulkWholeCallFailureReportsEveryDevice(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	ctx := context.Background()
	e.InjectFault(emulator.Fault{Method: "POST", Path: "/devices", Status: 401, Code: iothub.CodeIotHubUnauthorizedAccess})
	res, err := c.CreateDevices(ctx, manyDevices("f", 350), &registry.BulkOptions{Concurrency: 1})
	require.ErrorIs(t, err, iothub.ErrUnauthorized)
	assert.Zero(t, res.Succeeded)
	require.Len(t, res.Failed, 350, "every device is accounted for")
	assert.Equal(t, 1, e.RequestCount("POST", "/devices"), "the rest is not sent after a call fails as a whole")
	for _, f := range res.Failed {
		assert.True(t, errors.Is(f, iothub.ErrUnauthorized), f.DeviceID)
	}
}

func TestBulkCancelled(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := c.CreateDevices(ctx, manyDevices("x", 150), nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.Len(t, res.Failed, 150)
}

// BenchmarkCreateDevices registers 10,000 devices through the bulk API and
// through one PUT each, and reports devices/s for both.
func BenchmarkCreateDevices(b *testing.B) {
	const n = 10000
	for _, mode := range []string{"bulk", "put"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			var total float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				_, c := newHub(b, nil)
				devices := manyDevices("bench", n)
				ctx := context.Background()
				b.StartTimer()
				start := b.Elapsed()
				if mode == "bulk" {
					_, err := c.CreateDevices(ctx, devices, nil)
					require.NoError(b, err)
				} else {
					sem := make(chan struct{}, 8)
					var wg sync.WaitGroup
					for _, d := range devices {
						sem <- struct{}{}
						wg.Add(1)
						go func() {
							defer wg.Done()
							defer func() { <-sem }()
							_, err := c.CreateDevice(ctx, d)
							if err != nil {
								b.Error(err)
							}
						}()
					}
					wg.Wait()
				}
				total += (b.Elapsed() - start).Seconds()
			}
			b.ReportMetric(float64(n*b.N)/total, "devices/s")
		})
	}
}

func TestCreateOrUpdateDevices(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	_, err := c.CreateDevices(ctx, manyDevices("c", 50), nil)
	require.NoError(t, err)
	batch := manyDevices("c", 150) // 50 exist, 100 do not
	for _, d := range batch {
		d.Status = registry.StatusDisabled
	}
	res, err := c.CreateOrUpdateDevices(ctx, batch, nil)
	require.NoError(t, err)
	assert.Equal(t, 150, res.Succeeded)
	stats, err := c.Statistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(150), stats.TotalDeviceCount)
	assert.Equal(t, int64(150), stats.DisabledDeviceCount, "the existing ones were updated too")
	// Again: nothing fails.
	res, err = c.CreateOrUpdateDevices(ctx, batch, nil)
	require.NoError(t, err)
	assert.Equal(t, 150, res.Succeeded)
}
