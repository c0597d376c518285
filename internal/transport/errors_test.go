package transport

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
)

func TestDecodeError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		status   int
		header   http.Header
		body     string
		code     iothub.ErrorCode
		errName  string
		message  string
		tracking string
		sentinel error
	}{
		{
			name:     "legacy ErrorCode prefix",
			status:   404,
			body:     `{"Message":"ErrorCode:DeviceNotFound;Device d1 not registered","ExceptionMessage":"Tracking ID:a1b2c3-G:10-TimeStamp:05/14/2019 18:32:40"}`,
			code:     iothub.CodeDeviceNotFound,
			errName:  "DeviceNotFound",
			message:  "Device d1 not registered",
			tracking: "a1b2c3",
			sentinel: iothub.ErrDeviceNotFound,
		},
		{
			name:     "json object inside a string",
			status:   412,
			body:     `{"Message":"{\"errorCode\":412001,\"trackingId\":\"t-412\",\"message\":\"ETag mismatch\",\"info\":{},\"timestampUtc\":\"2021-01-01T00:00:00Z\"}","ExceptionMessage":""}`,
			code:     iothub.CodePreconditionFailed,
			errName:  "PreconditionFailed",
			message:  "ETag mismatch",
			tracking: "t-412",
			sentinel: iothub.ErrPreconditionFailed,
		},
		{
			name:     "json object directly",
			status:   404,
			body:     `{"Message":{"errorCode":404103,"trackingId":"t-off","message":"Timed out waiting for device to connect.","info":{"timeout":"00:00:00"}}}`,
			code:     iothub.CodeDeviceNotOnline,
			errName:  "DeviceNotOnline",
			message:  "Timed out waiting for device to connect.",
			tracking: "t-off",
			sentinel: iothub.ErrDeviceNotOnline,
		},
		{
			name:     "bare object",
			status:   409,
			body:     `{"errorCode":409001,"trackingId":"t-409","message":"exists"}`,
			code:     iothub.CodeDeviceAlreadyExists,
			errName:  "DeviceAlreadyExists",
			message:  "exists",
			tracking: "t-409",
			sentinel: iothub.ErrDeviceAlreadyExists,
		},
		{
			name:     "header only",
			status:   429,
			header:   http.Header{"Iothub-Errorcode": {"ThrottlingException"}},
			body:     ``,
			code:     iothub.CodeThrottlingException,
			errName:  "ThrottlingException",
			sentinel: iothub.ErrThrottled,
		},
		{
			name:     "unparseable body",
			status:   502,
			body:     `<html>bad gateway</html>`,
			message:  "Bad Gateway",
			sentinel: &iothub.Error{StatusCode: 502},
		},
		{
			name:     "plain text body",
			status:   401,
			body:     `Unauthorized`,
			message:  "Unauthorized",
			sentinel: iothub.ErrUnauthorized,
		},
		{
			name:     "unknown code name keeps the name",
			status:   400,
			body:     `{"Message":"ErrorCode:SomethingNew;odd"}`,
			errName:  "SomethingNew",
			message:  "odd",
			sentinel: &iothub.Error{StatusCode: 400},
		},
		{
			name:     "code as string",
			status:   413,
			body:     `{"Message":{"errorCode":"413001","message":"too big"}}`,
			code:     iothub.CodeMessageTooLarge,
			errName:  "MessageTooLarge",
			message:  "too big",
			sentinel: iothub.ErrMessageTooLarge,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			e := DecodeError(tc.status, h, []byte(tc.body))
			assert.Equal(t, tc.status, e.StatusCode)
			assert.Equal(t, tc.code, e.Code)
			assert.Equal(t, tc.errName, e.Name)
			if tc.message != "" {
				assert.Equal(t, tc.message, e.Message)
			}
			assert.Equal(t, tc.tracking, e.TrackingID)
			assert.True(t, errors.Is(e, tc.sentinel), "%v is not %v", e, tc.sentinel)
		})
	}
}

func TestDecodeErrorRetryAfter(t *testing.T) {
	t.Parallel()
	e := DecodeError(429, http.Header{"Retry-After": {"7"}}, nil)
	assert.Equal(t, 7*time.Second, e.RetryAfter)
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := map[string]time.Duration{
		"":          0,
		"1":         time.Second,
		"0.5":       500 * time.Millisecond,
		"-3":        0,
		"abc":       0,
		"999999999": 0,
		now.Add(10 * time.Second).Format(http.TimeFormat): 10 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	}
	for in, want := range cases {
		assert.Equal(t, want, ParseRetryAfter(in, now), "Retry-After %q", in)
	}
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":         "*",
		"*":        "*",
		"MTIz":     `"MTIz"`,
		`"MTIz"`:   `"MTIz"`,
		`W/"MTIz"`: `W/"MTIz"`,
		" abc ":    `"abc"`,
	}
	for in, want := range cases {
		assert.Equal(t, want, IfMatch(in), "IfMatch(%q)", in)
	}
	assert.Equal(t, "MTIz", UnquoteETag(`W/"MTIz"`))
	assert.Equal(t, "MTIz", UnquoteETag(`"MTIz"`))
	assert.Equal(t, "MTIz", UnquoteETag(`MTIz`))
}

func FuzzDecodeError(f *testing.F) {
	f.Add(404, "DeviceNotFound", `{"Message":"ErrorCode:DeviceNotFound;x","ExceptionMessage":"Tracking ID:abc-G:1"}`)
	f.Add(412, "", `{"Message":"{\"errorCode\":412001,\"trackingId\":\"t\",\"message\":\"m\"}"}`)
	f.Add(404, "", `{"Message":{"errorCode":404103,"message":"m"}}`)
	f.Add(500, "", `{"Message":"{not json"}`)
	f.Add(429, "ThrottlingException", ``)
	f.Add(400, "", `{"Message":["array"]}`)
	f.Add(400, "", `{"errorCode":"DeviceNotFound"}`)
	f.Add(503, "", "\x00\xff{")
	f.Fuzz(func(t *testing.T, status int, name, body string) {
		h := http.Header{}
		h.Set(HeaderErrorCode, name)
		e := DecodeError(status, h, []byte(body))
		require.NotNil(t, e)
		require.Equal(t, status, e.StatusCode)
		_ = e.Error()
		require.LessOrEqual(t, len(e.Message), 2*1024+8)
		require.LessOrEqual(t, len(e.TrackingID), 128+8)
	})
}
