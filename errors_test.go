package iothub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotkit-go/iothub"
)

func TestErrorIs(t *testing.T) {
	t.Parallel()
	notFound := &iothub.Error{StatusCode: 404, Code: iothub.CodeDeviceNotFound, Message: "no such device"}
	wrapped := fmt.Errorf("getting device: %w", notFound)
	assert.ErrorIs(t, wrapped, iothub.ErrDeviceNotFound)
	assert.NotErrorIs(t, wrapped, iothub.ErrModuleNotFound)
	assert.NotErrorIs(t, wrapped, iothub.ErrDeviceNotOnline, "same status, other code")

	throttled := &iothub.Error{StatusCode: 429, Code: iothub.CodeThrottleBacklogLimitExceeded}
	assert.ErrorIs(t, throttled, iothub.ErrThrottled, "ErrThrottled matches any 429")
	assert.ErrorIs(t, &iothub.Error{StatusCode: 401}, iothub.ErrUnauthorized)
	assert.NotErrorIs(t, &iothub.Error{}, &iothub.Error{}, "an empty target matches nothing")
	assert.NotErrorIs(t, notFound, errors.New("other"))

	var nilTarget *iothub.Error
	assert.False(t, notFound.Is(nilTarget))
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  *iothub.Error
		want string
	}{
		{&iothub.Error{StatusCode: 404, Code: iothub.CodeDeviceNotFound, Message: "gone", TrackingID: "abc"},
			"iothub: 404001 DeviceNotFound (status 404): gone (tracking id abc)"},
		{&iothub.Error{StatusCode: 502}, "iothub: status 502"},
		{&iothub.Error{StatusCode: 400, Name: "SomethingNew", Message: "odd"}, "iothub: status 400 SomethingNew: odd"},
		{&iothub.Error{Code: 123456}, "iothub: 123456"},
		{iothub.NewError(iothub.CodePreconditionFailed, "etag"), "iothub: 412001 PreconditionFailed (status 412): etag"},
		{&iothub.Error{Name: "amqp:not-found"}, "iothub: error amqp:not-found"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, tc.err.Error())
	}
}

func TestErrorUnwrap(t *testing.T) {
	t.Parallel()
	cause := &net.OpError{Op: "read", Err: syscall.ECONNRESET}
	e := iothub.NewError(iothub.CodeServerError, "x").WithCause(cause)
	var op *net.OpError
	assert.ErrorAs(t, e, &op)
	assert.ErrorIs(t, e, &iothub.Error{Code: iothub.CodeServerError})
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "DeviceNotFound", iothub.CodeDeviceNotFound.String())
	assert.Equal(t, "999999", iothub.ErrorCode(999999).String())
	assert.Equal(t, "", iothub.ErrorCode(0).String())
	assert.Equal(t, 404, iothub.CodeDeviceNotOnline.StatusCode())
	assert.Equal(t, 0, iothub.ErrorCode(42).StatusCode())
	c, ok := iothub.ErrorCodeByName("ModuleAlreadyExistsOnDevice")
	assert.True(t, ok)
	assert.Equal(t, iothub.CodeModuleAlreadyExistsOnDevice, c)
	_, ok = iothub.ErrorCodeByName("Nope")
	assert.False(t, ok)
	for _, c := range []iothub.ErrorCode{
		iothub.CodeArgumentInvalid, iothub.CodeIotHubFormatError, iothub.CodeBulkRegistryOperationFailure,
		iothub.CodeIotHubUnauthorizedAccess, iothub.CodeIotHubQuotaExceeded, iothub.CodeDeviceMaximumQueueDepthExceeded,
		iothub.CodeDeviceNotFound, iothub.CodeModuleNotFound, iothub.CodeDeviceNotOnline, iothub.CodeRequestTimeout,
		iothub.CodeDeviceAlreadyExists, iothub.CodeModuleAlreadyExistsOnDevice, iothub.CodePreconditionFailed,
		iothub.CodeMessageTooLarge, iothub.CodeThrottlingException, iothub.CodeServerError,
		iothub.CodeServiceUnavailable, iothub.CodeGatewayTimeout,
		iothub.CodeDefaultStorageEndpointNotConfigured, iothub.CodeInvalidFileUploadCorrelationId,
		iothub.CodeExpiredFileUploadCorrelationId, iothub.CodeInvalidStorageEndpointOrBlob,
		iothub.CodeDeviceMaximumActiveFileUploadLimitExceeded,
	} {
		byName, ok := iothub.ErrorCodeByName(c.String())
		assert.True(t, ok, "%d has a name", c)
		assert.Equal(t, c, byName)
	}
}

func TestIsRetriable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&iothub.Error{StatusCode: 429, Code: iothub.CodeThrottlingException}, true},
		{&iothub.Error{StatusCode: 408}, true},
		{&iothub.Error{StatusCode: 500}, true},
		{&iothub.Error{StatusCode: 502}, true},
		{&iothub.Error{StatusCode: 503, Code: iothub.CodeServiceUnavailable}, true},
		{&iothub.Error{StatusCode: 504}, true},
		{iothub.ErrTimeout, false},
		{iothub.ErrDeviceNotFound, false},
		{iothub.ErrPreconditionFailed, false},
		{&iothub.Error{StatusCode: 400}, false},
		{&iothub.Error{StatusCode: 401}, false},
		{fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{io.ErrUnexpectedEOF, true},
		{context.Canceled, false},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), false},
		{errors.New("bad input"), false},
		{(&iothub.Error{Name: "amqp:link:detach-forced"}).WithCause(net.ErrClosed), true},
	}
	for i, tc := range cases {
		assert.Equal(t, tc.want, iothub.IsRetriable(tc.err), "case %d: %v", i, tc.err)
	}
}
