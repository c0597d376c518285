package fileupload

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/iotkit-go/iothub"
)

// Limits of blob names in Azure Storage (Naming and Referencing
// Containers, Blobs, and Metadata), for accounts without a hierarchical
// namespace.
const (
	maxBlobNameLength = 1024
	maxBlobSegments   = 254
)

// checkBlobName checks the blob name the hub makes, "{deviceId}/{blobName}",
// against blob storage's rules, so that a device learns of a name storage
// would refuse before it uploads: 1 to 1024 characters of valid UTF-8, no
// control characters, at most 254 segments.
func checkBlobName(deviceID, blobName string) *iothub.Error {
	full := deviceID + "/" + blobName
	switch {
	case blobName == "":
		return iothub.NewError(iothub.CodeArgumentInvalid, "a file upload needs a blobName")
	case !utf8.ValidString(blobName):
		return iothub.NewError(iothub.CodeArgumentInvalid, "the blobName is not valid UTF-8")
	case utf8.RuneCountInString(full) > maxBlobNameLength:
		return iothub.NewError(iothub.CodeArgumentInvalid, "the blob name {deviceId}/{blobName} is longer than blob storage's 1024 characters")
	case strings.Count(full, "/")+1 > maxBlobSegments:
		return iothub.NewError(iothub.CodeArgumentInvalid, "the blob name {deviceId}/{blobName} has more than blob storage's 254 path segments")
	}
	for _, r := range blobName {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return iothub.NewError(iothub.CodeArgumentInvalid, "the blobName holds a control character, which blob storage refuses")
		}
	}
	return nil
}

// checkContainerName reports what makes name no container name, or "":
// 3 to 63 lowercase letters, digits and single hyphens, starting and
// ending with a letter or digit.
func checkContainerName(name string) string {
	if len(name) < 3 || len(name) > 63 {
		return "must be 3 to 63 characters long"
	}
	for i, r := range name {
		letterOrDigit := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		switch {
		case letterOrDigit:
		case r == '-' && i > 0 && i < len(name)-1 && name[i-1] != '-':
		default:
			return "must be lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
		}
	}
	return ""
}

// escapePath escapes each segment of a blob name for a URL path.
func escapePath(name string) string {
	segments := strings.Split(name, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	return strings.Join(segments, "/")
}
