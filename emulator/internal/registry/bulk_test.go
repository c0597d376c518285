package registry

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
)

func TestBulkModules(t *testing.T) {
	t.Parallel()
	s := New(nil)
	mustPutDevice(t, s, "d1")
	res, err := s.Bulk([]ImportOp{
		{Mode: ModeCreate, DeviceID: "d1", ModuleID: "m1", ManagedBy: "me", Twin: TwinPatch{Tags: map[string]any{"t": "1"}}},
		{Mode: ModeCreateOrUpdate, DeviceID: "d1", ModuleID: "m2"},
		{Mode: ModeCreate, DeviceID: "nope", ModuleID: "m1"},
	})
	require.NoError(t, err)
	require.Len(t, res.Errors, 1)
	assert.Equal(t, OpError{DeviceID: "nope", ModuleID: "m1", Code: iothub.CodeDeviceNotFound, Message: res.Errors[0].Message, Operation: ModeCreate}, res.Errors[0])
	m1, err := s.GetModule("d1", "m1")
	require.NoError(t, err)
	assert.Equal(t, "me", m1.ManagedBy)
	doc, err := s.GetTwin("d1", "m1")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"t": "1"}, doc["tags"])

	res, err = s.Bulk([]ImportOp{
		{Mode: ModeCreateOrUpdate, DeviceID: "d1", ModuleID: "m2", ManagedBy: "other"},
		{Mode: ModeUpdateIfMatchETag, DeviceID: "d1", ModuleID: "m1", ETag: m1.ETag, ManagedBy: "again"},
		{Mode: ModeDelete, DeviceID: "d1", ModuleID: "m9"},
	})
	require.NoError(t, err)
	codes := map[string]iothub.ErrorCode{}
	for _, e := range res.Errors {
		codes[e.ModuleID] = e.Code
	}
	assert.Equal(t, map[string]iothub.ErrorCode{"m9": iothub.CodeModuleNotFound}, codes)
	res, err = s.Bulk([]ImportOp{{Mode: ModeCreate, DeviceID: "d1", ModuleID: "m1"}})
	require.NoError(t, err)
	require.Len(t, res.Errors, 1)
	assert.Equal(t, iothub.CodeModuleAlreadyExistsOnDevice, res.Errors[0].Code)
	m2, err := s.GetModule("d1", "m2")
	require.NoError(t, err)
	assert.Equal(t, "other", m2.ManagedBy)
	m1b, err := s.GetModule("d1", "m1")
	require.NoError(t, err)
	assert.Equal(t, "again", m1b.ManagedBy)

	res, err = s.Bulk([]ImportOp{{Mode: ModeUpdateTwin, DeviceID: "d1", ModuleID: "m2", Twin: TwinPatch{Desired: map[string]any{"p": true}}}})
	require.NoError(t, err)
	assert.True(t, res.Successful())
	doc, err = s.GetTwin("d1", "m2")
	require.NoError(t, err)
	assert.Equal(t, true, doc["properties"].(map[string]any)["desired"].(map[string]any)["p"])

	res, err = s.Bulk([]ImportOp{{Mode: ModeDeleteIfMatchETag, DeviceID: "d1", ModuleID: "m2", ETag: m2.ETag}, {Mode: ModeDelete, DeviceID: "d1", ModuleID: "m1"}})
	require.NoError(t, err)
	assert.True(t, res.Successful())
	mods, err := s.ListModules("d1")
	require.NoError(t, err)
	assert.Empty(t, mods)
}

func TestModuleQuota(t *testing.T) {
	t.Parallel()
	s := New(nil)
	mustPutDevice(t, s, "d1")
	for i := range MaxModulesPerDevice {
		_, _, err := s.PutModule(ModuleSpec{DeviceID: "d1", ModuleID: fmt.Sprintf("m%d", i)}, "")
		require.NoError(t, err)
	}
	_, _, err := s.PutModule(ModuleSpec{DeviceID: "d1", ModuleID: "one-too-many"}, "")
	requireCode(t, err, iothub.CodeIotHubQuotaExceeded)
}

func TestBulkWholeCallErrors(t *testing.T) {
	t.Parallel()
	s := New(nil)
	_, err := s.Bulk(nil)
	requireCode(t, err, iothub.CodeArgumentInvalid)
	ops := make([]ImportOp, MaxBulkOperations+1)
	for i := range ops {
		ops[i] = ImportOp{Mode: ModeCreate, DeviceID: fmt.Sprintf("d%d", i)}
	}
	_, err = s.Bulk(ops)
	requireCode(t, err, iothub.CodeTooManyDevices)
	_, err = s.Bulk([]ImportOp{{Mode: ModeCreate, DeviceID: "a"}, {Mode: ModeUpdate, DeviceID: "a"}})
	requireCode(t, err, iothub.CodeDeviceDefinedMultipleTimes)
	_, err = s.Bulk([]ImportOp{{Mode: "upsert", DeviceID: "a"}})
	requireCode(t, err, iothub.CodeArgumentInvalid)
	assert.Zero(t, s.Len(), "a refused call applies nothing")
}
