package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
	azcheckpoints "github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2/checkpoints"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// azuriteContainer creates a container in Azurite (scripts/azurite.sh),
// deleted after the test; without Azurite the test is skipped, or fails
// when IOTHUB_REQUIRE_AZURITE=1.
func azuriteContainer(t *testing.T) *container.Client {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv("IOTHUB_REQUIRE_AZURITE") == "1" {
		unavailable = t.Fatalf
	}
	endpoint := os.Getenv("IOTHUB_AZURITE_BLOB_ENDPOINT")
	if endpoint == "" {
		unavailable("IOTHUB_AZURITE_BLOB_ENDPOINT is not set; run: eval \"$(bash scripts/azurite.sh start)\"")
	}
	// Azurite's published development account key: it opens nothing but a
	// local emulator.
	cred, err := azblob.NewSharedKeyCredential("devstoreaccount1", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
	require.NoError(t, err)
	svc, err := service.NewClientWithSharedKeyCredential(endpoint, cred, nil)
	require.NoError(t, err)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "interop-" + hex.EncodeToString(b[:])
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
		_, _ = svc.DeleteContainer(ctx, name, nil)
	})
	return svc.NewContainerClient(name)
}

// interopGroup is the consumer group of the test. It is lower-case: the
// official Go SDK's blob store (v2.0.2) writes blob names with the case it
// is given, while the other official SDKs, and ours, lower-case them; with
// a mixed-case group such as $Default our store still reads the Go SDK's
// checkpoints, but the Go SDK does not find ours.
const interopGroup = "analytics"

// sendBatch sends n telemetry events from each device, numbered from first.
func sendBatch(t *testing.T, devices []*emulator.SimulatedDevice, first, n int) map[string]bool {
	t.Helper()
	sent := map[string]bool{}
	for _, d := range devices {
		for i := first; i < first+n; i++ {
			id := fmt.Sprintf("%s-%d", d.DeviceID(), i)
			require.NoError(t, d.SendTelemetry(context.Background(), []byte(id), &emulator.TelemetryOptions{MessageID: id}))
			sent[id] = true
		}
	}
	return sent
}

// readOurs runs this SDK's Processor with the blob store until it has
// handled want events, then stops it (checkpointing and relinquishing).
func readOurs(t *testing.T, e *emulator.Emulator, cc *container.Client, want int) map[string]bool {
	t.Helper()
	store, err := checkpoints.NewBlobStore(cc, nil)
	require.NoError(t, err)
	consumer, err := eventhub.NewConsumerFromConnectionString(e.EventHubConnectionString(), &eventhub.ConsumerOptions{ConsumerGroup: interopGroup})
	require.NoError(t, err)
	defer consumer.Close(context.Background())
	proc, err := eventhub.NewProcessor(consumer, store, &eventhub.ProcessorOptions{
		Strategy: eventhub.StrategyGreedy, UpdateInterval: 300 * time.Millisecond, PartitionExpiration: 2 * time.Second, CheckpointEvery: 1,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[string]bool{}
	err = proc.Run(ctx, eventhub.HandlerFunc(func(_ context.Context, _ *eventhub.PartitionContext, events []*eventhub.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			assert.False(t, got[ev.MessageID], "%s read twice", ev.MessageID)
			got[ev.MessageID] = true
		}
		if len(got) >= want {
			cancel()
		}
		return nil
	}))
	require.True(t, err == nil || errors.Is(err, context.Canceled), "%v", err)
	return got
}

// readOfficial runs azeventhubs' Processor with its blob store until it has
// handled want events, checkpointing after each batch.
func readOfficial(t *testing.T, e *emulator.Emulator, cc *container.Client, want int) map[string]bool {
	t.Helper()
	store, err := azcheckpoints.NewBlobStore(cc, nil)
	require.NoError(t, err)
	client, err := azeventhubs.NewConsumerClientFromConnectionString(e.EventHubConnectionString(), "", interopGroup, nil)
	require.NoError(t, err)
	defer client.Close(context.Background())
	proc, err := azeventhubs.NewProcessor(client, store, &azeventhubs.ProcessorOptions{
		LoadBalancingStrategy: azeventhubs.ProcessorStrategyGreedy, UpdateInterval: 300 * time.Millisecond, PartitionExpirationDuration: 2 * time.Second,
		StartPositions: azeventhubs.StartPositions{Default: azeventhubs.StartPosition{Earliest: ptr(true)}},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[string]bool{}
	runDone := make(chan error, 1)
	go func() { runDone <- proc.Run(ctx) }()
	var wg sync.WaitGroup
	for {
		pc := proc.NextPartitionClient(ctx)
		if pc == nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close(context.Background())
			for ctx.Err() == nil {
				// ReceiveEvents waits for all 100 or for its context: bound
				// each call so batches come back as they arrive.
				rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
				evs, _ := pc.ReceiveEvents(rctx, 100, nil)
				rcancel()
				if len(evs) == 0 {
					continue
				}
				mu.Lock()
				for _, ev := range evs {
					id := fmt.Sprint(ev.MessageID)
					if ev.MessageID != nil {
						id = *ev.MessageID
					}
					assert.False(t, got[id], "%s read twice", id)
					got[id] = true
				}
				done := len(got) >= want
				mu.Unlock()
				require.NoError(t, pc.UpdateCheckpoint(context.Background(), evs[len(evs)-1], nil))
				if done {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	<-runDone
	return got
}

// TestCheckpointsMoveBetweenSDKs: checkpoints our blob store writes are
// where azeventhubs' Processor resumes, and the reverse, on one Azurite
// container.
func TestCheckpointsMoveBetweenSDKs(t *testing.T) {
	cc := azuriteContainer(t)
	ids := deviceIDs(8)
	e, err := emulator.Start(context.Background(), &emulator.Options{Partitions: 4, ConsumerGroups: []string{interopGroup}, Devices: seedsFor(ids)})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	devices := connect(t, e, ids...)

	began := time.Now()
	first := sendBatch(t, devices, 0, 5)
	assert.Equal(t, first, readOurs(t, e, cc, len(first)), "ours reads the first batch")
	t.Logf("ours read the first batch in %v", time.Since(began))

	began = time.Now()
	second := sendBatch(t, devices, 5, 5)
	assert.Equal(t, second, readOfficial(t, e, cc, len(second)), "azeventhubs resumes after our checkpoints: the second batch only")
	t.Logf("azeventhubs read the second batch in %v", time.Since(began))

	began = time.Now()
	third := sendBatch(t, devices, 10, 5)
	assert.Equal(t, third, readOurs(t, e, cc, len(third)), "ours resumes after azeventhubs' checkpoints: the third batch only")
	t.Logf("ours read the third batch in %v", time.Since(began))
}

func seedsFor(ids []string) []emulator.DeviceSeed {
	seeds := make([]emulator.DeviceSeed, len(ids))
	for i, id := range ids {
		seeds[i] = emulator.DeviceSeed{DeviceID: id}
	}
	return seeds
}
