package fileupload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/iotkit-go/iothub"
)

// Defaults and limits of Options.
const (
	// DefaultContainer is the container uploads go to by default.
	DefaultContainer = "fileupload"
	// DefaultSASTTL is how long a SAS token lasts by default, as on IoT Hub.
	DefaultSASTTL = time.Hour
	// MinSASTTL and MaxSASTTL bound Options.SASTTL, as IoT Hub bounds its
	// fileUpload sasTtl.
	MinSASTTL = time.Minute
	MaxSASTTL = 24 * time.Hour
)

// Options configure the hub's file uploads.
type Options struct {
	// ConnectionString is the linked storage account's connection string
	// (see [ParseConnectionString]); it must hold the account key. Required.
	ConnectionString string
	// Container is the blob container uploads go to, created at the first
	// upload if it does not exist. Default: DefaultContainer ("fileupload").
	Container string
	// SASTTL is how long a SAS token lets a device write its blob, and how
	// long the upload counts against the device's MaxActiveUploads if the
	// device never reports it. 1 minute to 24 hours. Default: 1 hour.
	SASTTL time.Duration
	// DisableNotifications keeps the hub from queueing file-upload
	// notifications for the service (IoT Hub's enableFileUploadNotifications
	// set to false). Default: false (a notification for each success).
	DisableNotifications bool
	// Notify queues the service's file-upload notification of a success:
	// the device, the blob's name "{deviceId}/{blobName}", its URI without
	// a SAS, its size and its last-modified time. Required unless
	// DisableNotifications.
	Notify func(deviceID, blobName, blobURI string, size int64, lastModified time.Time) error
	// Now is the hub's clock. Default: time.Now.
	Now func() time.Time
	// Transport sends the requests to blob storage. Default: azcore's
	// HTTP client.
	Transport policy.Transporter
	// Logger receives diagnostics, never keys or SAS tokens. Default:
	// discard.
	Logger *slog.Logger
}

// String describes the options without the connection string, which holds
// the account key.
func (o Options) String() string { return o.Describe("fileupload.Options") }

// Describe is String under another type's name, for the emulator's own
// options that carry these.
func (o Options) Describe(typeName string) string {
	cs := ""
	if o.ConnectionString != "" {
		cs = "<redacted>"
	}
	return fmt.Sprintf("%s{ConnectionString: %s, Container: %q, SASTTL: %s, DisableNotifications: %t}",
		typeName, cs, o.Container, o.SASTTL, o.DisableNotifications)
}

// GoString is String, for %#v.
func (o Options) GoString() string { return o.String() }

// Format prints String under every verb.
func (o Options) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(o.String())) }

// Uploads are the file uploads of a hub with a linked storage account. A
// nil *Uploads is a hub without one: Start and Complete answer 400014
// DefaultStorageEndpointNotConfigured. Safe for concurrent use.
type Uploads struct {
	account   *Account
	cred      *container.SharedKeyCredential
	client    *container.Client
	container string
	opts      Options
	inFlight  *correlations

	// createMu serialises creating the container; created says it exists.
	createMu sync.Mutex
	created  bool
}

// New links the storage account of opts.ConnectionString. It checks the
// options and fails with a *[ConfigError] naming the setting that is
// missing or wrong; it does not contact storage.
func New(opts *Options) (*Uploads, error) {
	if opts == nil {
		return nil, &ConfigError{Field: "ConnectionString", Reason: "is missing"}
	}
	o := *opts
	o.ConnectionString = ""
	if opts.ConnectionString == "" {
		return nil, &ConfigError{Field: "ConnectionString", Reason: "is missing"}
	}
	account, err := ParseConnectionString(opts.ConnectionString)
	if err != nil {
		return nil, err
	}
	if o.Container == "" {
		o.Container = DefaultContainer
	}
	if reason := checkContainerName(o.Container); reason != "" {
		return nil, &ConfigError{Field: "Container", Reason: reason}
	}
	if o.SASTTL == 0 {
		o.SASTTL = DefaultSASTTL
	}
	if o.SASTTL < MinSASTTL || o.SASTTL > MaxSASTTL {
		return nil, &ConfigError{Field: "SASTTL", Reason: fmt.Sprintf("is %s; IoT Hub allows 1 minute to 24 hours", o.SASTTL)}
	}
	if o.Notify == nil && !o.DisableNotifications {
		return nil, &ConfigError{Field: "Notify", Reason: "is missing, and notifications are enabled"}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cred, err := container.NewSharedKeyCredential(account.Name, account.Key.Reveal())
	if err != nil {
		return nil, &ConfigError{Field: "AccountKey", Reason: "is not a storage account key"}
	}
	client, err := container.NewClientWithSharedKeyCredential(account.Endpoint.String()+"/"+o.Container, cred, &container.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: o.Transport,
			Retry:     policy.RetryOptions{MaxRetries: 2, TryTimeout: 30 * time.Second},
		},
	})
	if err != nil {
		return nil, &ConfigError{Field: "BlobEndpoint", Reason: "does not make a container URL"}
	}
	return &Uploads{
		account: account, cred: cred, client: client, container: o.Container, opts: o,
		inFlight: newCorrelations(o.SASTTL),
	}, nil
}

// String describes the uploads' storage link without its key.
func (u *Uploads) String() string {
	if u == nil {
		return "fileupload.Uploads(no storage linked)"
	}
	return fmt.Sprintf("fileupload.Uploads{Endpoint: %q, Container: %q, SASTTL: %s}", u.account.Endpoint.String(), u.container, u.opts.SASTTL)
}

// GoString is String, for %#v.
func (u *Uploads) GoString() string { return u.String() }

// Format prints String under every verb.
func (u *Uploads) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(u.String())) }

// errNotConfigured is a hub's answer when no storage is linked.
func errNotConfigured() *iothub.Error {
	return iothub.NewError(iothub.CodeDefaultStorageEndpointNotConfigured, "the hub has no storage account linked for file uploads")
}

// Start begins an upload of blobName by deviceID: it creates the container
// if needed, records the upload (at most MaxActiveUploads per device) and
// signs a SAS for the blob "{deviceId}/{blobName}" that lasts SASTTL.
// Errors are *iothub.Error: 400004 for a blob name that blob storage
// refuses, 403006 when the device has MaxActiveUploads in flight, 400020
// when storage refuses to create the container, 500001 when it cannot be
// reached.
func (u *Uploads) Start(ctx context.Context, deviceID, blobName string) (SAS, error) {
	if u == nil {
		return SAS{}, errNotConfigured()
	}
	if deviceID == "" {
		return SAS{}, iothub.NewError(iothub.CodeArgumentInvalid, "a file upload needs a device id")
	}
	if err := checkBlobName(deviceID, blobName); err != nil {
		return SAS{}, err
	}
	full := deviceID + "/" + blobName
	now := u.opts.Now()
	id, ok := u.inFlight.add(deviceID, blobName, full, now)
	if !ok {
		return SAS{}, iothub.NewError(iothub.CodeDeviceMaximumActiveFileUploadLimitExceeded,
			fmt.Sprintf("Number of active file upload requests cannot exceed %d", MaxActiveUploads))
	}
	if err := u.ensureContainer(ctx); err != nil {
		u.inFlight.drop(id)
		return SAS{}, err
	}
	token, err := u.signBlob(full, now.Add(u.opts.SASTTL))
	if err != nil {
		u.inFlight.drop(id)
		return SAS{}, iothub.NewError(iothub.CodeServerError, "signing the blob SAS failed").WithCause(err)
	}
	u.opts.Logger.Debug("fileupload: started", "device", deviceID, "blob", full)
	return SAS{
		CorrelationID: id,
		HostName:      u.account.Endpoint.Host + u.account.Endpoint.Path,
		ContainerName: u.container,
		BlobName:      full,
		SASToken:      token,
	}, nil
}

// ensureContainer creates the container unless it was created before.
func (u *Uploads) ensureContainer(ctx context.Context) error {
	u.createMu.Lock()
	defer u.createMu.Unlock()
	if u.created {
		return nil
	}
	if _, err := u.client.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return storageError(fmt.Sprintf("blob storage did not create the container %q", u.container), err)
	}
	u.created = true
	return nil
}

// Complete takes a device's report of an upload. The correlation id must
// be one of deviceID's uploads in flight (else 400015) within its SAS TTL
// (else 400016). A failure is forgotten, with no notification. A success
// has the blob's properties read from storage, the upload released and,
// unless notifications are disabled, the service notified; if storage has
// no such blob (or refuses to say), Complete fails with 400020 and the
// upload stays in flight, as on IoT Hub.
func (u *Uploads) Complete(ctx context.Context, deviceID string, r Result) error {
	if u == nil {
		return errNotConfigured()
	}
	now := u.opts.Now()
	up := u.inFlight.take(deviceID, r.CorrelationID, now)
	if up == nil {
		return iothub.NewError(iothub.CodeInvalidFileUploadCorrelationId, "the correlation id is not one of the device's file uploads")
	}
	if !now.Before(up.expires) {
		return iothub.NewError(iothub.CodeExpiredFileUploadCorrelationId,
			"the file upload's SAS expired at "+up.expires.UTC().Format(time.RFC3339)+"; start a new upload")
	}
	if !r.IsSuccess {
		u.opts.Logger.Debug("fileupload: device reported a failure", "device", deviceID, "blob", up.blobName, "status", r.StatusCode)
		return nil
	}
	props, err := u.client.NewBlobClient(up.blobName).GetProperties(ctx, nil)
	if err != nil {
		u.inFlight.restore(r.CorrelationID, up)
		return storageError(fmt.Sprintf("blob storage does not show the blob %q of container %q", up.blobName, u.container), err)
	}
	var size int64
	if props.ContentLength != nil {
		size = *props.ContentLength
	}
	var modified time.Time
	if props.LastModified != nil {
		modified = props.LastModified.UTC()
	}
	u.opts.Logger.Debug("fileupload: completed", "device", deviceID, "blob", up.blobName, "size", size)
	if u.opts.DisableNotifications {
		return nil
	}
	if err := u.opts.Notify(deviceID, up.blobName, u.BlobURI(up.blobName), size, modified); err != nil {
		return iothub.NewError(iothub.CodeServerError, "the hub could not queue the file upload notification").WithCause(err)
	}
	return nil
}

// ContainerURL returns the URL of the upload container, without a SAS.
func (u *Uploads) ContainerURL() string {
	return u.account.Endpoint.String() + "/" + u.container
}

// BlobURI returns the URI of the blob blobName ("{deviceId}/{blobName}") in
// the upload container, without a SAS: the blobUri of notifications.
func (u *Uploads) BlobURI(blobName string) string {
	return u.ContainerURL() + "/" + escapePath(blobName)
}

// BlobURL returns the URL a device uploads to for s, with the blob
// endpoint's own scheme (http for Azurite), where a device of IoT Hub
// builds "https://{HostName}/{ContainerName}/{BlobName}{SASToken}".
func (u *Uploads) BlobURL(s SAS) string {
	return u.account.Endpoint.Scheme + "://" + s.HostName + "/" + s.ContainerName + "/" + escapePath(s.BlobName) + s.SASToken
}

// storageError turns a blob storage failure into the hub's answer:
// 400020 InvalidStorageEndpointOrBlob when storage refused (Forbidden,
// Unauthorized, NotFound, BadRequest and the like), 500001 when it could
// not be reached or failed itself. The cause stays reachable through
// errors.As; msg never holds a key or SAS.
func storageError(msg string, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 {
		return iothub.NewError(iothub.CodeInvalidStorageEndpointOrBlob,
			fmt.Sprintf("%s: %d %s", msg, re.StatusCode, re.ErrorCode)).WithCause(err)
	}
	if errors.As(err, &re) {
		return iothub.NewError(iothub.CodeServerError, fmt.Sprintf("%s: %d %s", msg, re.StatusCode, http.StatusText(re.StatusCode))).WithCause(err)
	}
	return iothub.NewError(iothub.CodeServerError, msg+": blob storage could not be reached").WithCause(err)
}
