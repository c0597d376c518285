package devicebound

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// FileNotificationContentType is the content type of file-upload notifications.
const FileNotificationContentType = "application/vnd.microsoft.iothub.filenotification.json"

// FileNotification says a device finished uploading a file, in the hub's
// JSON form.
type FileNotification struct {
	DeviceID        string `json:"deviceId"`
	BlobURI         string `json:"blobUri"`
	BlobName        string `json:"blobName"`
	LastUpdatedTime string `json:"lastUpdatedTime"`
	BlobSizeInBytes int64  `json:"blobSizeInBytes"`
	EnqueuedTimeUTC string `json:"enqueuedTimeUtc"`
}

// NotifyFileUpload queues a notification that deviceID uploaded blobName
// (size bytes, last modified at lastUpdated) to blobURI. A zero
// lastUpdated stands for now, for uploads that stored no blob. With a DB,
// it returns once the notification is on disk.
func (h *Hub) NotifyFileUpload(deviceID, blobName, blobURI string, size int64, lastUpdated time.Time) error {
	now := h.opts.Now().UTC()
	if lastUpdated.IsZero() {
		lastUpdated = now
	}
	body, _ := json.Marshal(FileNotification{
		DeviceID:        deviceID,
		BlobURI:         blobURI,
		BlobName:        blobName,
		LastUpdatedTime: lastUpdated.UTC().Format(time.RFC3339Nano),
		BlobSizeInBytes: size,
		EnqueuedTimeUTC: now.Format(time.RFC3339Nano),
	})
	p := h.files.add([][]byte{serviceBound(body, FileNotificationContentType, now)}, nil)
	if err := p.Wait(context.Background()); err != nil {
		return fmt.Errorf("devicebound: keeping the file notification: %w", err)
	}
	return nil
}
