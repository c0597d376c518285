package eventhub_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// Azurite's development account and its key, published in Azurite's
// README; it opens nothing but a local emulator.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azuriteContainer creates a container in the Azurite named by
// IOTHUB_AZURITE_BLOB_ENDPOINT (scripts/azurite.sh prints it), deleted when
// the test ends. Without Azurite the test is skipped, or fails when
// IOTHUB_REQUIRE_AZURITE=1.
func azuriteContainer(t testing.TB) *container.Client {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv("IOTHUB_REQUIRE_AZURITE") == "1" {
		unavailable = t.Fatalf
	}
	endpoint := os.Getenv("IOTHUB_AZURITE_BLOB_ENDPOINT")
	if endpoint == "" {
		unavailable("IOTHUB_AZURITE_BLOB_ENDPOINT is not set; run: eval \"$(bash scripts/azurite.sh start)\"")
	}
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	require.NoError(t, err)
	svc, err := service.NewClientWithSharedKeyCredential(endpoint, cred, &service.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: 1, TryTimeout: 10 * time.Second, RetryDelay: 50 * time.Millisecond},
	}})
	require.NoError(t, err)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "processor-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := svc.CreateContainer(ctx, name, nil); err != nil {
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			unavailable("Azurite does not answer at %s: %v", endpoint, err)
		}
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := svc.DeleteContainer(ctx, name, nil)
		assert.NoError(t, err)
	})
	return svc.NewContainerClient(name)
}

func TestProcessorBalanceBlobStore(t *testing.T) {
	// Not parallel: the timings measured are the balancer's, not the CPU's.
	store, err := checkpoints.NewBlobStore(azuriteContainer(t), nil)
	require.NoError(t, err)
	// Each update is a few HTTP round trips to Azurite (tens of ms under
	// -race), so the interval is longer than the other stores'.
	testBalance(t, store, 500*time.Millisecond)
}
