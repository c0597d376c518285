package devicehttp

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/fileupload"
)

// fakeUploads records what the device API hands it.
type fakeUploads struct {
	mu        sync.Mutex
	started   []string
	completed []fileupload.Result
	err       error
}

func (f *fakeUploads) Start(_ context.Context, deviceID, blobName string) (fileupload.SAS, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return fileupload.SAS{}, f.err
	}
	f.started = append(f.started, deviceID+"/"+blobName)
	return fileupload.SAS{CorrelationID: "corr-1", HostName: "127.0.0.1:10000", ContainerName: "uploads", BlobName: deviceID + "/" + blobName, SASToken: "?sv=x&sig=y"}, nil
}

func (f *fakeUploads) Complete(_ context.Context, deviceID string, n fileupload.Result) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.completed = append(f.completed, n)
	return nil
}

func TestFileUploadEndpoints(t *testing.T) {
	t.Parallel()
	files := &fakeUploads{}
	s := newTestServer(t, &Options{Files: files})
	const q = "?api-version=2021-04-12"

	status, hd, body := s.do(http.MethodPost, "/devices/d1/files"+q, `{"blobName":"logs/a.txt"}`)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, "application/json; charset=utf-8", hd.Get("Content-Type"))
	var sas map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &sas))
	assert.Equal(t, map[string]any{"correlationId": "corr-1", "hostName": "127.0.0.1:10000", "containerName": "uploads", "blobName": "d1/logs/a.txt", "sasToken": "?sv=x&sig=y"}, sas)
	assert.Equal(t, []string{"d1/logs/a.txt"}, files.started)

	// The Node SDK's form: the correlation id in the path, not the body.
	status, _, body = s.do(http.MethodPost, "/devices/d1/files/notifications/corr-1"+q, `{"isSuccess":true,"statusCode":200,"statusDescription":"done"}`)
	require.Equal(t, http.StatusNoContent, status, body)
	// The C# SDK's form: in the body.
	status, _, body = s.do(http.MethodPost, "/devices/d1/files/notifications"+q, `{"correlationId":"corr-2","isSuccess":false,"statusCode":-1,"statusDescription":"broken"}`)
	require.Equal(t, http.StatusNoContent, status, body)
	assert.Equal(t, []fileupload.Result{
		{CorrelationID: "corr-1", IsSuccess: true, StatusCode: 200, StatusDescription: "done"},
		{CorrelationID: "corr-2", IsSuccess: false, StatusCode: -1, StatusDescription: "broken"},
	}, files.completed)

	for name, tc := range map[string]struct{ path, body string }{
		"bad JSON":             {"/devices/d1/files", `{"blobName":`},
		"not an object":        {"/devices/d1/files", `["a"]`},
		"no blobName":          {"/devices/d1/files", `{}`},
		"empty blobName":       {"/devices/d1/files", `{"blobName":""}`},
		"no correlationId":     {"/devices/d1/files/notifications", `{"isSuccess":true}`},
		"no isSuccess":         {"/devices/d1/files/notifications/corr-1", `{"statusCode":200}`},
		"correlation mismatch": {"/devices/d1/files/notifications/corr-1", `{"correlationId":"other","isSuccess":true}`},
	} {
		status, hd, body := s.do(http.MethodPost, tc.path+q, tc.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %s", name, body)
		assert.Equal(t, "ArgumentInvalid", hd.Get("iothub-errorcode"), name)
	}

	// The service's errors pass through as they are.
	files.err = iothub.NewError(iothub.CodeIotHubQuotaExceeded, "Too many active file uploads")
	status, hd, body = s.do(http.MethodPost, "/devices/d1/files"+q, `{"blobName":"b"}`)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "IotHubQuotaExceeded", hd.Get("iothub-errorcode"))
	assert.Contains(t, body, "ErrorCode:IotHubQuotaExceeded;Too many active file uploads")
}

func TestFileUploadNotConfigured(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, nil)
	for _, p := range []string{"/devices/d1/files", "/devices/d1/files/notifications/c"} {
		status, hd, body := s.do(http.MethodPost, p+"?api-version=2021-04-12", `{"blobName":"b","isSuccess":true}`)
		assert.Equal(t, http.StatusBadRequest, status, body)
		assert.Equal(t, "DefaultStorageEndpointNotConfigured", hd.Get("iothub-errorcode"))
		assert.Contains(t, body, "File upload is not configured")
	}
}
