package c2d

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/Azure/go-amqp"
)

// FileNotification says a device finished uploading a file.
type FileNotification struct {
	DeviceID        string    `json:"deviceId"`
	BlobURI         string    `json:"blobUri"`
	BlobName        string    `json:"blobName"`
	LastUpdatedTime time.Time `json:"lastUpdatedTime"`
	BlobSizeInBytes int64     `json:"blobSizeInBytes"`
	EnqueuedTime    time.Time `json:"enqueuedTimeUtc"`
}

// ReceiveFileNotifications receives file-upload notifications until ctx
// ends, with the settle rules of [Client.ReceiveFeedback]: nil completes a
// notification, an error abandons it for redelivery.
func (c *Client) ReceiveFileNotifications(ctx context.Context, handler func(ctx context.Context, n *FileNotification) error) error {
	return c.receiveLoop(ctx, "/messages/serviceBound/filenotifications", func(ctx context.Context, m *amqp.Message) error {
		var n FileNotification
		if err := json.Unmarshal(m.GetData(), &n); err != nil {
			c.warn(ctx, "iothub: discarding a file notification that does not decode", fmt.Errorf("file notification body: %w", err))
			return errDiscard
		}
		return handler(ctx, &n)
	})
}
