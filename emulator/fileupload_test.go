package emulator_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
)

// Azurite's development account; its key is published in Azurite's README
// and opens nothing but a local emulator.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azurite returns the connection string of Azurite's development account
// at IOTHUB_AZURITE_BLOB_ENDPOINT (scripts/azurite.sh prints it), a fresh
// container name deleted when the test ends, and a client of it. Without
// Azurite the test is skipped, or fails when IOTHUB_REQUIRE_AZURITE=1.
func azurite(t *testing.T) (connectionString, name string, c *container.Client) {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv("IOTHUB_REQUIRE_AZURITE") == "1" {
		unavailable = t.Fatalf
	}
	endpoint := os.Getenv("IOTHUB_AZURITE_BLOB_ENDPOINT")
	if endpoint == "" {
		unavailable("IOTHUB_AZURITE_BLOB_ENDPOINT is not set; run: eval \"$(bash scripts/azurite.sh start)\"")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "uploads-" + hex.EncodeToString(b[:])
	cred, err := container.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	require.NoError(t, err)
	c, err = container.NewClientWithSharedKeyCredential(strings.TrimRight(endpoint, "/")+"/"+name, cred, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The hub creates the container; a probe tells whether Azurite answers.
	if _, err := c.GetProperties(ctx, nil); err != nil {
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			unavailable("Azurite does not answer at %s: %v", endpoint, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.Delete(ctx, nil)
	})
	cs := "DefaultEndpointsProtocol=http;AccountName=" + azuriteAccount + ";AccountKey=" + azuriteKey + ";BlobEndpoint=" + endpoint
	return cs, name, c
}

// uploadingDevice starts an emulator linked to a fresh container in
// Azurite and connects the simulated device id.
func uploadingDevice(t *testing.T, id string) (containerName string, blobs *container.Client, e *emulator.Emulator, dev *emulator.SimulatedDevice) {
	t.Helper()
	cs, containerName, blobs := azurite(t)
	e, err := emulator.Start(context.Background(), &emulator.Options{
		Devices:    []emulator.DeviceSeed{{DeviceID: id}},
		FileUpload: &emulator.FileUploadOptions{StorageConnectionString: cs, Container: containerName},
	})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	dev, err = e.Device(id)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, dev.Connect(ctx))
	return containerName, blobs, e, dev
}

// TestUploadFileToAzurite uploads 1 MB of real bytes as a simulated device:
// the service's notification names the blob in Azurite, with its size and
// last-modified time, and the blob holds the bytes.
func TestUploadFileToAzurite(t *testing.T) {
	t.Parallel()
	containerName, blobs, e, dev := uploadingDevice(t, "cam-1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	require.NoError(t, dev.UploadFile(ctx, "frames/0001.bin", data))

	svc, err := c2d.NewClientFromConnectionString(e.ConnectionString(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	nctx, stop := context.WithCancel(ctx)
	var got *c2d.FileNotification
	err = svc.ReceiveFileNotifications(nctx, func(_ context.Context, n *c2d.FileNotification) error {
		got = n
		stop()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, got)

	blob := blobs.NewBlobClient("cam-1/frames/0001.bin")
	props, err := blob.GetProperties(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, "cam-1", got.DeviceID)
	assert.Equal(t, "cam-1/frames/0001.bin", got.BlobName)
	assert.Equal(t, os.Getenv("IOTHUB_AZURITE_BLOB_ENDPOINT")+"/"+containerName, e.FileUploadContainerURL())
	assert.Equal(t, e.FileUploadContainerURL()+"/cam-1/frames/0001.bin", got.BlobURI, "the blob's URI, without a SAS")
	assert.Equal(t, int64(len(data)), got.BlobSizeInBytes)
	assert.True(t, props.LastModified.Equal(got.LastUpdatedTime), "last updated %s, blob modified %s", got.LastUpdatedTime, props.LastModified)
	assert.False(t, got.EnqueuedTime.IsZero())

	resp, err := blob.DownloadStream(ctx, nil)
	require.NoError(t, err)
	stored, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, stored), "the blob holds other bytes than the device sent")
}

// TestUploadFileStorageGone fails uploads at storage: each is reported to
// the hub as failed, which frees its slot, so that more uploads than the
// hub's limit of 10 in flight all reach storage (and fail there).
func TestUploadFileStorageGone(t *testing.T) {
	t.Parallel()
	_, blobs, _, dev := uploadingDevice(t, "d")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, dev.UploadFile(ctx, "first", []byte("x")))

	// Someone deletes the container the hub made: the PUT fails with
	// 404, the device reports the failure, the hub frees the upload.
	_, err := blobs.Delete(ctx, nil)
	require.NoError(t, err)
	for i := range 11 {
		err := dev.UploadFile(ctx, fmt.Sprint("lost-", i), []byte("x"))
		var re *azcore.ResponseError
		require.ErrorAs(t, err, &re, "upload %d", i)
		var he *iothub.Error
		assert.False(t, errors.As(err, &he), "the hub took the failure report: %v", err)
	}
}

func TestFileUploadOptions(t *testing.T) {
	t.Parallel()
	secret := "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQ="
	_, err := emulator.Start(context.Background(), &emulator.Options{
		FileUpload: &emulator.FileUploadOptions{StorageConnectionString: "AccountName=acct;AcountKey=" + secret},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown setting "AcountKey"`)
	assert.NotContains(t, err.Error(), secret)

	_, err = emulator.Start(context.Background(), &emulator.Options{
		FileUpload: &emulator.FileUploadOptions{StorageConnectionString: "AccountName=acct;AccountKey=" + secret, Container: "Bad_Name"},
	})
	require.ErrorContains(t, err, "Container")

	o := emulator.FileUploadOptions{StorageConnectionString: "AccountName=acct;AccountKey=" + secret, Container: "c1"}
	for _, v := range []any{o, &o, emulator.Options{FileUpload: &o}} {
		for _, verb := range []string{"%s", "%v", "%+v", "%#v"} {
			assert.NotContains(t, fmt.Sprintf(verb, v), secret, "%T with %s", v, verb)
		}
	}
}
