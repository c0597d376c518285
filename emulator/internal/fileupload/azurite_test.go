package fileupload

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeviceFlowWithAzurite plays a device of another language against
// Azurite through the API the HTTP front end serves: Start, a PUT to the
// URL the Node SDK builds (with Azurite's http), Complete. Without Azurite
// (IOTHUB_AZURITE_BLOB_ENDPOINT, from scripts/azurite.sh) it is skipped,
// or fails when IOTHUB_REQUIRE_AZURITE=1.
func TestDeviceFlowWithAzurite(t *testing.T) {
	t.Parallel()
	endpoint := os.Getenv("IOTHUB_AZURITE_BLOB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("IOTHUB_REQUIRE_AZURITE") == "1" {
			t.Fatal("IOTHUB_AZURITE_BLOB_ENDPOINT is not set; run: eval \"$(bash scripts/azurite.sh start)\"")
		}
		t.Skip("IOTHUB_AZURITE_BLOB_ENDPOINT is not set; run: eval \"$(bash scripts/azurite.sh start)\"")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "devflow-" + hex.EncodeToString(b[:])
	var got []notification
	u, err := New(&Options{
		ConnectionString: "AccountName=" + devAccountName + ";AccountKey=" + devAccountKey + ";BlobEndpoint=" + endpoint,
		Container:        name,
		Notify: func(deviceID, blobName, blobURI string, size int64, modified time.Time) error {
			got = append(got, notification{deviceID, blobName, blobURI, size, modified})
			return nil
		},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s, err := u.Start(ctx, "node-device", "logs/today.txt")
	if err != nil && strings.Contains(err.Error(), "could not be reached") {
		if os.Getenv("IOTHUB_REQUIRE_AZURITE") == "1" {
			t.Fatalf("Azurite does not answer at %s: %v", endpoint, err)
		}
		t.Skipf("Azurite does not answer at %s: %v", endpoint, err)
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = u.client.Delete(ctx, nil)
	})
	assert.Equal(t, strings.TrimPrefix(endpoint, "http://"), s.HostName, "host and account path")
	nodeURL := "https://" + s.HostName + "/" + s.ContainerName + "/" + s.BlobName + s.SASToken
	assert.Equal(t, "http"+strings.TrimPrefix(nodeURL, "https"), u.BlobURL(s), "BlobURL is the Node SDK's URL with the endpoint's scheme")

	client, err := blockblob.NewClientWithNoCredential(u.BlobURL(s), nil)
	require.NoError(t, err)
	_, err = client.UploadBuffer(ctx, []byte("hello world"), nil)
	require.NoError(t, err, "the SAS alone lets the device write its blob")

	// The SAS is the blob's, not the container's.
	other := strings.Replace(u.BlobURL(s), "/logs/today.txt?", "/logs/other.txt?", 1)
	stranger, err := blockblob.NewClientWithNoCredential(other, nil)
	require.NoError(t, err)
	_, err = stranger.UploadBuffer(ctx, []byte("x"), nil)
	var re *azcore.ResponseError
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Equal(t, http.StatusForbidden, re.StatusCode)

	require.NoError(t, u.Complete(ctx, "node-device", Result{CorrelationID: s.CorrelationID, IsSuccess: true, StatusCode: 201}))
	require.Len(t, got, 1)
	assert.Equal(t, "node-device/logs/today.txt", got[0].blobName)
	assert.Equal(t, endpoint+"/"+name+"/node-device/logs/today.txt", got[0].blobURI)
	assert.Equal(t, int64(len("hello world")), got[0].size)
	assert.WithinDuration(t, time.Now(), got[0].modified, time.Minute)
}
