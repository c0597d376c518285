package devicehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/fileupload"
)

// FileUploads is the hub's file upload service, which hands out blob SAS
// URIs of its linked storage account and turns a device's notification
// into a file upload notification: *fileupload.Uploads. The device API
// parses and checks the requests and answers what it returns; an
// *iothub.Error it returns is answered as it is (status, code, message).
type FileUploads interface {
	// Start answers POST /devices/{id}/files {"blobName":…}: where the
	// device is to upload the blob.
	Start(ctx context.Context, deviceID, blobName string) (fileupload.SAS, error)
	// Complete answers POST /devices/{id}/files/notifications[/{correlationId}]
	// {"correlationId","isSuccess","statusCode","statusDescription"}.
	Complete(ctx context.Context, deviceID string, r fileupload.Result) error
}

// sasJSON is the answer to a file upload's start, as the hub writes it.
type sasJSON struct {
	CorrelationID string `json:"correlationId"`
	HostName      string `json:"hostName"`
	ContainerName string `json:"containerName"`
	BlobName      string `json:"blobName"`
	SASToken      string `json:"sasToken"`
}

// maxFileRequestBytes bounds the JSON bodies of the files endpoints.
const maxFileRequestBytes = 64 * 1024

// errFileUploadNotConfigured is the answer of a hub with no storage
// account linked for file upload: 400014
// DefaultStorageEndpointNotConfigured, as IoT Hub's error reference names
// it.
func errFileUploadNotConfigured() error {
	return iothub.NewError(iothub.CodeDefaultStorageEndpointNotConfigured, "File upload is not configured for this IoT hub: it has no linked storage account")
}

// startUpload answers POST /devices/{id}/files: 200 with the SAS JSON.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, deviceID string) error {
	var req struct {
		BlobName *string `json:"blobName"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.BlobName == nil || *req.BlobName == "" {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request has no blobName")
	}
	if h.files == nil {
		return errFileUploadNotConfigured()
	}
	sas, err := h.files.Start(r.Context(), deviceID, *req.BlobName)
	if err != nil {
		return err
	}
	b, err := json.Marshal(sasJSON{CorrelationID: sas.CorrelationID, HostName: sas.HostName, ContainerName: sas.ContainerName, BlobName: sas.BlobName, SASToken: sas.SASToken})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// completeUpload answers POST /devices/{id}/files/notifications[/{id}]:
// 204. The correlation id is the path's (the Node SDK's form) or the
// body's (the C# SDK's); both present, they must agree.
func (h *Handler) completeUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	var n struct {
		CorrelationID     string `json:"correlationId"`
		IsSuccess         *bool  `json:"isSuccess"`
		StatusCode        int    `json:"statusCode"`
		StatusDescription string `json:"statusDescription"`
	}
	if err := decodeJSON(r, &n); err != nil {
		return err
	}
	switch {
	case rt.correlationID != "" && n.CorrelationID != "" && n.CorrelationID != rt.correlationID:
		return iothub.NewError(iothub.CodeArgumentInvalid, "The correlationId of the body is not the one of the path")
	case rt.correlationID != "":
		n.CorrelationID = rt.correlationID
	case n.CorrelationID == "":
		return iothub.NewError(iothub.CodeArgumentInvalid, "The notification has no correlationId")
	}
	if n.IsSuccess == nil {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The notification has no isSuccess")
	}
	if h.files == nil {
		return errFileUploadNotConfigured()
	}
	res := fileupload.Result{CorrelationID: n.CorrelationID, IsSuccess: *n.IsSuccess, StatusCode: n.StatusCode, StatusDescription: n.StatusDescription}
	if err := h.files.Complete(r.Context(), rt.key.DeviceID, res); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decodeJSON reads a request body that must be one JSON object.
func decodeJSON(r *http.Request, v any) error {
	body, err := readLimited(r.Body, maxFileRequestBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '{' {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request body is not a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request body is not valid JSON: "+err.Error())
	}
	return nil
}
