package emulator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/fileupload"
)

// C2DMessage is a cloud-to-device message received by a simulated device.
// It stays locked to the device until it is completed, rejected or
// abandoned (or its lock times out after a minute), as with a real device.
type C2DMessage struct {
	Body            []byte
	MessageID       string
	CorrelationID   string
	UserID          string
	ContentType     string
	ContentEncoding string
	// Properties are the application properties the service set.
	Properties    map[string]string
	EnqueuedTime  time.Time
	ExpiryTime    time.Time
	DeliveryCount int

	d         *SimulatedDevice
	lockToken string
}

// ErrMessageSettled is returned when a C2DMessage is settled twice, or
// after its lock expired.
var ErrMessageSettled = errors.New("emulator: the message was already settled or its lock expired")

// ReceiveC2D waits for the next cloud-to-device message of the device. It
// fails with ErrNotConnected when the device is not connected (or
// disconnects while waiting) and with ctx's error when ctx ends.
func (d *SimulatedDevice) ReceiveC2D(ctx context.Context) (*C2DMessage, error) {
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if c == nil {
		return nil, ErrNotConnected
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	m, err := d.e.hub.C2D().Receive(ctx, devicebound.Key(d.key))
	if err != nil {
		if cerr := c.closedErr(); cerr != nil {
			return nil, cerr
		}
		if errors.Is(err, devicebound.ErrClosed) {
			return nil, ErrEmulatorClosed
		}
		return nil, err
	}
	d.e.hub.Touch(d.key)
	return &C2DMessage{
		Body: m.Body, MessageID: m.MessageID, CorrelationID: m.CorrelationID, UserID: m.UserID,
		ContentType: m.ContentType, ContentEncoding: m.ContentEncoding, Properties: m.Properties,
		EnqueuedTime: m.EnqueuedTime, ExpiryTime: m.ExpiryTime, DeliveryCount: m.DeliveryCount,
		d: d, lockToken: m.LockToken,
	}, nil
}

// Complete tells the hub the device processed the message: it leaves the
// queue and, if asked for, positive feedback reports Success.
func (m *C2DMessage) Complete(ctx context.Context) error {
	return m.settle(ctx, m.d.e.hub.C2D().Complete)
}

// Reject tells the hub the device refuses the message: it leaves the queue
// and, if asked for, negative feedback reports Rejected.
func (m *C2DMessage) Reject(ctx context.Context) error {
	return m.settle(ctx, m.d.e.hub.C2D().Reject)
}

// Abandon gives the message back: it is delivered again, until its
// delivery count reaches 10, when it is dead-lettered (feedback
// DeliveryCountExceeded).
func (m *C2DMessage) Abandon(ctx context.Context) error {
	return m.settle(ctx, m.d.e.hub.C2D().Abandon)
}

func (m *C2DMessage) settle(ctx context.Context, fn func(devicebound.Key, string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !m.d.Connected() {
		return ErrNotConnected
	}
	if err := fn(devicebound.Key(m.d.key), m.lockToken); err != nil {
		if errors.Is(err, devicebound.ErrLockLost) {
			return ErrMessageSettled
		}
		return err
	}
	return nil
}

// TelemetryOptions are the optional parts of a telemetry message.
type TelemetryOptions struct {
	// Properties are application properties.
	Properties map[string]string
	// MessageID, CorrelationID, ContentType and ContentEncoding are the
	// message's system properties.
	MessageID, CorrelationID, ContentType, ContentEncoding string
}

// SendTelemetry sends a device-to-cloud message, which the hub appends to
// a partition of its built-in endpoint (chosen by the device id), with the
// annotations IoT Hub adds (iothub-connection-device-id, enqueued time…).
// opts may be nil. It fails with ErrNotConnected when the device is not
// connected.
func (d *SimulatedDevice) SendTelemetry(ctx context.Context, body []byte, opts *TelemetryOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !d.Connected() {
		return ErrNotConnected
	}
	ev := eventhubs.Event{DeviceID: d.key.DeviceID, ModuleID: d.key.ModuleID, Body: body}
	if opts != nil {
		if len(opts.Properties) > 0 {
			ev.Properties = make(map[string]any, len(opts.Properties))
			for k, v := range opts.Properties {
				ev.Properties[k] = v
			}
		}
		ev.MessageID, ev.CorrelationID, ev.ContentType, ev.ContentEncoding = opts.MessageID, opts.CorrelationID, opts.ContentType, opts.ContentEncoding
	}
	if err := d.e.hub.AppendTelemetry(ctx, ev); err != nil {
		return err
	}
	d.e.hub.Touch(d.key)
	return nil
}

// UploadFile uploads data as the file name, the way a device does with
// IoT Hub's file upload: it asks the hub for a SAS URI for the blob
// "<deviceId>/<name>", PUTs data to the linked storage with that SAS alone
// (no key), and reports the outcome to the hub, which notifies the service
// with the blob's URI, size and last-modified time. A failed upload is
// reported as one (no notification) and its error returned. Without
// Options.FileUpload no storage is linked: no bytes are stored, and the
// service is notified of a blob of len(data) bytes at a made-up URI.
func (d *SimulatedDevice) UploadFile(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !d.Connected() {
		return ErrNotConnected
	}
	if name == "" {
		return iothub.NewError(iothub.CodeArgumentInvalid, "a file upload needs a name")
	}
	files := d.e.files
	if files == nil {
		blob := d.key.DeviceID + "/" + name
		uri := "https://" + d.e.hub.HubName() + ".blob.core.windows.net/fileupload/" + url.PathEscape(d.key.DeviceID) + "/" + url.PathEscape(name)
		return d.e.hub.C2D().NotifyFileUpload(d.key.DeviceID, blob, uri, int64(len(data)), time.Time{})
	}
	s, err := files.Start(ctx, d.key.DeviceID, name)
	if err != nil {
		return err
	}
	result := fileupload.Result{CorrelationID: s.CorrelationID, IsSuccess: true, StatusCode: http.StatusCreated, StatusDescription: "uploaded"}
	uploadErr := putBlob(ctx, files.BlobURL(s), data, d.e.storageClient)
	if uploadErr != nil {
		result = fileupload.Result{CorrelationID: s.CorrelationID, StatusCode: -1, StatusDescription: "Failed to upload to blob"}
		var re *azcore.ResponseError
		if errors.As(uploadErr, &re) {
			result.StatusCode = re.StatusCode
		}
	}
	if err := files.Complete(ctx, d.key.DeviceID, result); err != nil {
		return errors.Join(uploadErr, err)
	}
	d.e.hub.Touch(d.key)
	return uploadErr
}

// putBlob writes data to the block blob at sasURL, which carries its own
// authorization, through hc (nil: azcore's default transport).
func putBlob(ctx context.Context, sasURL string, data []byte, hc *http.Client) error {
	client, err := blockblob.NewClientWithNoCredential(sasURL, &blockblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: transport(hc)}})
	if err != nil {
		return fmt.Errorf("emulator: the SAS URL of the upload: %w", err)
	}
	_, err = client.UploadBuffer(ctx, data, nil)
	return err
}

// C2DQueueDepth returns how many cloud-to-device messages are queued for a
// device (moduleID "") or module, locked ones included.
func (e *Emulator) C2DQueueDepth(deviceID, moduleID string) int {
	return e.hub.C2D().Depth(devicebound.Key{DeviceID: deviceID, ModuleID: moduleID})
}
