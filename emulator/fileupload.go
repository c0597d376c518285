package emulator

import (
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/fileupload"
)

// FileUploadOptions link a storage account to the emulated hub for file
// uploads, as IoT Hub's fileUpload settings do. Uploads go to real blob
// storage: an Azure Storage account, or Azurite
// (UseDevelopmentStorage=true, or its BlobEndpoint) in tests.
type FileUploadOptions struct {
	// StorageConnectionString is the storage account's connection string,
	// with its AccountKey (the hub signs a SAS token for each upload with
	// it): AccountName, AccountKey and either BlobEndpoint or
	// DefaultEndpointsProtocol and EndpointSuffix; or
	// UseDevelopmentStorage=true for Azurite on 127.0.0.1:10000. Required.
	StorageConnectionString string
	// Container is the blob container uploads go to, created at the first
	// upload if needed. Default: "fileupload".
	Container string
	// SASTTL is how long the SAS token a device gets lasts (1 minute to 24
	// hours); an upload the device never reports counts against its limit
	// of 10 in flight until then. Default: 1 hour, as IoT Hub.
	SASTTL time.Duration
	// DisableNotifications keeps the hub from queueing file-upload
	// notifications (IoT Hub's enableFileUploadNotifications=false).
	// Default: false (the service is notified of each upload).
	DisableNotifications bool
	// HTTPClient is what the hub (and SimulatedDevice.UploadFile) reaches
	// the storage with, e.g. one that trusts the CA of an HTTPS Azurite.
	// Default: azcore's default transport.
	HTTPClient *http.Client
}

// String describes the options without the connection string, which holds
// the account key.
func (o FileUploadOptions) String() string {
	return o.options().Describe("emulator.FileUploadOptions")
}

// options are the hub core's options for o.
func (o FileUploadOptions) options() fileupload.Options {
	return fileupload.Options{
		ConnectionString:     o.StorageConnectionString,
		Container:            o.Container,
		SASTTL:               o.SASTTL,
		DisableNotifications: o.DisableNotifications,
		Transport:            transport(o.HTTPClient),
	}
}

// transport is c as azcore's transport; nil keeps azcore's default.
func transport(c *http.Client) policy.Transporter {
	if c == nil {
		return nil
	}
	return c
}

// GoString is String, for %#v.
func (o FileUploadOptions) GoString() string { return o.String() }

// Format prints String under every verb.
func (o FileUploadOptions) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(o.String())) }

// newFileUploads links the storage of opts to hub; nil opts link none,
// and the nil *Uploads answers devices as a hub without storage does.
func (e *Emulator) newFileUploads(hub *core.Hub, opts *FileUploadOptions) (*fileupload.Uploads, error) {
	if opts == nil {
		return nil, nil
	}
	o := opts.options()
	// The queues come up after Start links the storage: look them up at
	// each notification.
	o.Notify = func(deviceID, blobName, blobURI string, size int64, lastModified time.Time) error {
		return hub.C2D().NotifyFileUpload(deviceID, blobName, blobURI, size, lastModified)
	}
	o.Now, o.Logger = hub.Now, e.logger
	u, err := fileupload.New(&o)
	if err != nil {
		return nil, fmt.Errorf("emulator: FileUpload: %w", err)
	}
	e.storageClient = opts.HTTPClient
	return u, nil
}

// FileUploadContainerURL returns the URL of the blob container devices'
// files go to (no key, no SAS), or "" without Options.FileUpload.
func (e *Emulator) FileUploadContainerURL() string {
	if e.files == nil {
		return ""
	}
	return e.files.ContainerURL()
}
