package fileupload

import (
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// SAS is the hub's answer to a device that starts a file upload (the body
// of POST /devices/{id}/files): the device PUTs its file to
// https://{HostName}/{ContainerName}/{BlobName}{SASToken}, then reports
// the outcome with CorrelationID.
type SAS struct {
	// CorrelationID names the upload in [Uploads.Complete].
	CorrelationID string
	// HostName is the blob endpoint's host, e.g.
	// "myaccount.blob.core.windows.net". For a path-style endpoint, such as
	// Azurite's http://127.0.0.1:10000/devstoreaccount1, it is the host and
	// the path, "127.0.0.1:10000/devstoreaccount1", so that the URL a device
	// builds still names the blob (with https; see [Uploads.BlobURL] for
	// the endpoint's own scheme).
	HostName string
	// ContainerName is the hub's upload container.
	ContainerName string
	// BlobName is "{deviceId}/{blobName}".
	BlobName string
	// SASToken is a blob service SAS, starting with "?", that grants read
	// and write on the blob until the hub's SAS TTL ends.
	SASToken string
}

// String describes the SAS without its token's signature.
func (s SAS) String() string {
	token := ""
	if s.SASToken != "" {
		token = "<redacted>"
	}
	return fmt.Sprintf("fileupload.SAS{CorrelationID: %q, HostName: %q, ContainerName: %q, BlobName: %q, SASToken: %s}",
		s.CorrelationID, s.HostName, s.ContainerName, s.BlobName, token)
}

// GoString is String, for %#v.
func (s SAS) GoString() string { return s.String() }

// Format prints String under every verb.
func (s SAS) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(s.String())) }

// Result is a device's report of an upload's outcome (the body of POST
// /devices/{id}/files/notifications).
type Result struct {
	// CorrelationID is [SAS.CorrelationID] of the upload.
	CorrelationID string
	// IsSuccess says the file is in blob storage.
	IsSuccess bool
	// StatusCode and StatusDescription are the device's own account of
	// the outcome, typically the storage's HTTP status; the hub keeps
	// neither.
	StatusCode        int
	StatusDescription string
}

// signBlob signs a service SAS for one blob with read and write, as the
// hub's tokens grant (sr=b, sp=rw), valid until expiry.
func (u *Uploads) signBlob(blobName string, expiry time.Time) (string, error) {
	perms := sas.BlobPermissions{Read: true, Write: true}
	qp, err := sas.BlobSignatureValues{
		ExpiryTime:    expiry.UTC(),
		Permissions:   perms.String(),
		ContainerName: u.container,
		BlobName:      blobName,
	}.SignWithSharedKey(u.cred)
	if err != nil {
		return "", err
	}
	return "?" + qp.Encode(), nil
}
