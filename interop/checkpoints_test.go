//go:build interop

package interop_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// Azurite's development account and its key, published in Azurite's
// README; it opens nothing but a local emulator.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

func azuriteConnectionString(endpoint string) string {
	return "DefaultEndpointsProtocol=http;AccountName=" + azuriteAccount + ";AccountKey=" + azuriteKey + ";BlobEndpoint=" + endpoint + ";"
}

// azuriteContainer creates the container name, deleted when the test ends.
func azuriteContainer(t *testing.T, endpoint, name string) *container.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	require.NoError(t, err)
	cc, err := container.NewClientWithSharedKeyCredential(endpoint+"/"+name, cred, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cc.Create(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = cc.Delete(context.Background(), nil) })
	return cc
}

// runProcessor runs this SDK's Processor on the hub's Event Hub-compatible
// endpoint with the blob store until it has handled n events (or a minute
// passed), then stops it (which checkpoints what it handled) and returns
// the bodies it saw.
func runProcessor(ctx context.Context, t *testing.T, h *hub, cc *container.Client, n int) []string {
	t.Helper()
	consumer, err := eventhub.NewConsumerFromConnectionString(h.EventHubConnectionString(), &eventhub.ConsumerOptions{TLSConfig: h.TLSConfig()})
	require.NoError(t, err)
	defer consumer.Close(context.Background())
	store, err := checkpoints.NewBlobStore(cc, nil)
	require.NoError(t, err)
	proc, err := eventhub.NewProcessor(consumer, store, &eventhub.ProcessorOptions{
		Strategy: eventhub.StrategyGreedy, UpdateInterval: time.Second, CheckpointEvery: 1,
	})
	require.NoError(t, err)
	runCtx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	var mu sync.Mutex
	var bodies []string
	done := make(chan error, 1)
	go func() {
		done <- proc.Run(runCtx, eventhub.HandlerFunc(func(_ context.Context, _ *eventhub.PartitionContext, events []*eventhub.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range events {
				bodies = append(bodies, string(ev.Body))
			}
			if len(bodies) >= n {
				// Anything more would be a duplicate: give it a moment to show.
				time.AfterFunc(1500*time.Millisecond, stop)
			}
			return nil
		}))
	}()
	err = <-done
	if err != nil && ctx.Err() == nil && runCtx.Err() == nil {
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), bodies...)
}
