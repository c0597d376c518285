package twin_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/twin"
)

func newHub(t testing.TB, opts *emulator.Options) (*emulator.Emulator, *twin.Client) {
	t.Helper()
	e, err := emulator.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	c, err := twin.NewClientFromConnectionString(e.ConnectionString(), &iothub.ClientOptions{
		Retry: iothub.RetryOptions{RetryDelay: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	return e, c
}

func seeded(devices ...emulator.DeviceSeed) *emulator.Options {
	return &emulator.Options{Devices: devices}
}

func TestGet(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "d1", Tags: map[string]any{"building": "43"}, Desired: map[string]any{"fan": "on"}}))
	tw, err := c.Get(context.Background(), "d1")
	require.NoError(t, err)
	assert.Equal(t, "d1", tw.DeviceID)
	assert.Empty(t, tw.ModuleID)
	assert.NotEmpty(t, tw.ETag)
	assert.NotEmpty(t, tw.DeviceETag)
	assert.Equal(t, "enabled", tw.Status)
	assert.Equal(t, "Disconnected", tw.ConnectionState)
	assert.Equal(t, "sas", tw.AuthenticationType)
	assert.Equal(t, "43", tw.Tags["building"])
	fan, ok := tw.Properties.Desired.Get("fan")
	require.True(t, ok)
	assert.Equal(t, "on", fan)
	assert.Positive(t, tw.Properties.Desired.Version())
	_, ok = tw.Properties.Desired.LastUpdated("fan")
	assert.True(t, ok, "each desired leaf has $metadata.$lastUpdated")

	_, err = c.Get(context.Background(), "nobody")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
	_, err = c.Get(context.Background(), "bad id")
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
}

func TestUpdateMergesAndDeletes(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "d1"}))
	ctx := context.Background()
	before, err := c.Get(ctx, "d1")
	require.NoError(t, err)

	tw, err := c.Update(ctx, "d1", &twin.Patch{
		Tags:    map[string]any{"location": map[string]any{"building": "43", "floor": 2}},
		Desired: map[string]any{"telemetry": map[string]any{"interval": 30, "enabled": true}},
	})
	require.NoError(t, err)
	assert.Greater(t, tw.Version, before.Version)
	assert.Greater(t, tw.Properties.Desired.Version(), before.Properties.Desired.Version())
	assert.NotEqual(t, before.ETag, tw.ETag)

	tw2, err := c.Update(ctx, "d1", &twin.Patch{
		Tags:    map[string]any{"location": map[string]any{"floor": nil, "room": "12b"}},
		Desired: map[string]any{"telemetry": map[string]any{"interval": 60}},
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"building": "43", "room": "12b"}, tw2.Tags["location"], "objects merge; null deletes")
	interval, _ := tw2.Properties.Desired.Get("telemetry", "interval")
	enabled, _ := tw2.Properties.Desired.Get("telemetry", "enabled")
	assert.Equal(t, 60.0, interval)
	assert.Equal(t, true, enabled)
	assert.Equal(t, tw.Properties.Desired.Version()+1, tw2.Properties.Desired.Version())

	got, err := c.Get(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, tw2.ETag, got.ETag)
	assert.Equal(t, tw2.Tags, got.Tags)
}

func TestUpdateETag(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "d1"}))
	ctx := context.Background()
	tw, err := c.Get(ctx, "d1")
	require.NoError(t, err)
	_, err = c.Update(ctx, "d1", &twin.Patch{Tags: map[string]any{"a": 1}, ETag: tw.ETag})
	require.NoError(t, err)
	_, err = c.Update(ctx, "d1", &twin.Patch{Tags: map[string]any{"a": 2}, ETag: tw.ETag})
	require.ErrorIs(t, err, iothub.ErrPreconditionFailed)
	_, err = c.Update(ctx, "d1", &twin.Patch{Tags: map[string]any{"a": 3}, ETag: "*"})
	require.NoError(t, err)
	_, err = c.Update(ctx, "d1", &twin.Patch{})
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	_, err = c.Update(ctx, "d1", nil)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	_, err = c.Update(ctx, "ghost", &twin.Patch{Tags: map[string]any{"a": 1}})
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
}

func TestReplace(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "d1", Tags: map[string]any{"old": true}, Desired: map[string]any{"x": 1}}))
	ctx := context.Background()
	tw, err := c.Get(ctx, "d1")
	require.NoError(t, err)

	tw.Tags = map[string]any{"new": "yes"}
	tw.Properties.Desired = twin.Collection{"y": 2, "$version": 99, "$metadata": map[string]any{}}
	replaced, err := c.Replace(ctx, "d1", tw)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"new": "yes"}, replaced.Tags)
	_, hasX := replaced.Properties.Desired.Get("x")
	assert.False(t, hasX, "replace drops what it does not name")
	y, _ := replaced.Properties.Desired.Get("y")
	assert.Equal(t, 2.0, y)

	_, err = c.Replace(ctx, "d1", tw)
	require.ErrorIs(t, err, iothub.ErrPreconditionFailed, "tw still holds the old ETag")
	tw.ETag = ""
	_, err = c.Replace(ctx, "d1", tw)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	tw.ETag = "*"
	_, err = c.Replace(ctx, "d1", tw)
	require.NoError(t, err)
	_, err = c.Replace(ctx, "d1", nil)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
}

func TestModuleTwins(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "edge", Modules: []string{"filter"}}))
	ctx := context.Background()
	tw, err := c.GetModule(ctx, "edge", "filter")
	require.NoError(t, err)
	assert.Equal(t, "edge", tw.DeviceID)
	assert.Equal(t, "filter", tw.ModuleID)

	upd, err := c.UpdateModule(ctx, "edge", "filter", &twin.Patch{Desired: map[string]any{"threshold": 7}})
	require.NoError(t, err)
	v, _ := upd.Properties.Desired.Get("threshold")
	assert.Equal(t, 7.0, v)

	upd.Properties.Desired = twin.Collection{"threshold": 8}
	rep, err := c.ReplaceModule(ctx, "edge", "filter", upd)
	require.NoError(t, err)
	v, _ = rep.Properties.Desired.Get("threshold")
	assert.Equal(t, 8.0, v)

	_, err = c.GetModule(ctx, "edge", "nope")
	require.ErrorIs(t, err, iothub.ErrModuleNotFound)
	_, err = c.GetModule(ctx, "nodev", "filter")
	require.Error(t, err)
	_, err = c.UpdateModule(ctx, "edge", "nope", &twin.Patch{Tags: map[string]any{"a": 1}})
	require.ErrorIs(t, err, iothub.ErrModuleNotFound)
	_, err = c.GetModule(ctx, "edge", "")
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
}

func TestTwinLimits(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "d1"}))
	ctx := context.Background()
	deep := map[string]any{"leaf": 1}
	for range 11 {
		deep = map[string]any{"n": deep}
	}
	cases := []struct {
		name  string
		patch *twin.Patch
	}{
		{"tags over 8 KB", &twin.Patch{Tags: map[string]any{"big": strings.Repeat("x", 9*1024)}}},
		{"desired over 32 KB", &twin.Patch{Desired: map[string]any{"big": strings.Repeat("x", 33*1024)}}},
		{"key with a dot", &twin.Patch{Tags: map[string]any{"a.b": 1}}},
		{"key with a dollar", &twin.Patch{Desired: map[string]any{"$x": 1}}},
		{"key with a space", &twin.Patch{Tags: map[string]any{"a b": 1}}},
		{"too deep", &twin.Patch{Desired: deep}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Update(ctx, "d1", tc.patch)
			var he *iothub.Error
			require.ErrorAs(t, err, &he)
			assert.Contains(t, []int{400, 413}, he.StatusCode)
			assert.NotZero(t, he.Code)
		})
	}
	tw, err := c.Get(ctx, "d1")
	require.NoError(t, err)
	assert.Empty(t, tw.Tags, "nothing of a refused patch is written")
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e, _ := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "d1"}))
	cs, err := e.PolicyConnectionString("registryRead")
	require.NoError(t, err)
	c, err := twin.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err)
	_, err = c.Get(context.Background(), "d1")
	require.NoError(t, err)
	_, err = c.Update(context.Background(), "d1", &twin.Patch{Tags: map[string]any{"a": 1}})
	require.ErrorIs(t, err, iothub.ErrUnauthorized)
}

// TestValuesJSONCannotHold: a twin value that does not encode (NaN, a
// channel) is the caller's bad argument, as a method payload's is, and no
// request is sent.
func TestValuesJSONCannotHold(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, seeded(emulator.DeviceSeed{DeviceID: "d1"}))
	ctx := context.Background()
	before := e.RequestCount("", "")
	for name, v := range map[string]any{"NaN": math.NaN(), "Inf": math.Inf(1), "channel": make(chan int)} {
		_, err := c.Update(ctx, "d1", &twin.Patch{Desired: map[string]any{"x": v}})
		require.ErrorIs(t, err, iothub.ErrArgumentInvalid, name)
		assert.Contains(t, err.Error(), "does not encode as JSON", name)
		_, err = c.Replace(ctx, "d1", &twin.Twin{Tags: map[string]any{"x": v}})
		require.ErrorIs(t, err, iothub.ErrArgumentInvalid, name)
	}
	assert.Equal(t, before, e.RequestCount("", ""), "nothing was sent")
}
