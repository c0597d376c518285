package checkpoints_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

const (
	// azuriteEndpointEnv holds Azurite's blob endpoint, e.g.
	// http://127.0.0.1:10000/devstoreaccount1 (scripts/azurite.sh prints it).
	azuriteEndpointEnv = "IOTHUB_AZURITE_BLOB_ENDPOINT"
	// requireAzuriteEnv=1 turns a missing Azurite into a failure, for CI.
	requireAzuriteEnv = "IOTHUB_REQUIRE_AZURITE"

	// Azurite's development account and its key, published in Azurite's
	// README; it opens nothing but a local emulator.
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azuriteContainer creates a container with a random name in Azurite,
// deleted when the test ends, and returns its client. Without Azurite the
// test is skipped, or fails when IOTHUB_REQUIRE_AZURITE=1.
func azuriteContainer(t testing.TB) *container.Client {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv(requireAzuriteEnv) == "1" {
		unavailable = t.Fatalf
	}
	endpoint := os.Getenv(azuriteEndpointEnv)
	if endpoint == "" {
		unavailable("%s is not set; run: eval \"$(bash scripts/azurite.sh start)\"", azuriteEndpointEnv)
	}
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	require.NoError(t, err)
	svc, err := service.NewClientWithSharedKeyCredential(endpoint, cred, &service.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: 1, TryTimeout: 10 * time.Second, RetryDelay: 50 * time.Millisecond},
	}})
	require.NoError(t, err)

	var b [6]byte
	rand.Read(b[:])
	name := "checkpoints-" + hex.EncodeToString(b[:])
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

func newBlobStore(t testing.TB) (*checkpoints.BlobStore, *container.Client) {
	t.Helper()
	cc := azuriteContainer(t)
	store, err := checkpoints.NewBlobStore(cc, &checkpoints.BlobStoreOptions{
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	return store, cc
}

// testWriter sends log lines to t.Log, so they show only when a test fails.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestBlobStore(t *testing.T) {
	t.Parallel()
	azuriteContainer(t) // skip (or fail) the whole suite at once without Azurite
	testStore(t, func(t *testing.T) eventhub.CheckpointStore {
		store, _ := newBlobStore(t)
		return store
	})
}

func TestNewBlobStore(t *testing.T) {
	t.Parallel()
	_, err := checkpoints.NewBlobStore(nil, nil)
	require.ErrorIs(t, err, checkpoints.ErrInvalidArgument)
}

// blobState is what an official checkpoint store sees of a blob.
type blobState struct {
	Metadata map[string]string
	Size     int64
}

func listBlobs(t *testing.T, cc *container.Client) map[string]blobState {
	t.Helper()
	out := map[string]blobState{}
	pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Metadata: true}})
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		require.NoError(t, err)
		for _, item := range page.Segment.BlobItems {
			md := map[string]string{}
			for k, v := range item.Metadata {
				md[k] = *v
			}
			out[*item.Name] = blobState{Metadata: md, Size: *item.Properties.ContentLength}
		}
	}
	return out
}

// TestBlobStoreLayout pins the blobs to the layout of the official Event Hubs
// checkpoint stores (azeventhubs checkpoints/blob_store.go and the .NET,
// Java, JavaScript and Python stores): lower-cased
// "<namespace>/<event hub>/<consumer group>/ownership|checkpoint/<partition>",
// empty bodies, metadata ownerid, sequencenumber and offset.
func TestBlobStoreLayout(t *testing.T) {
	t.Parallel()
	store, cc := newBlobStore(t)
	ctx := t.Context()

	owned := claimOne(t, store, eventhub.Ownership{Namespace: "MyHub-NS.servicebus.windows.net", EventHub: "MyHub", ConsumerGroup: "$Default", PartitionID: "0", OwnerID: "Owner-A"})
	require.NoError(t, store.SetCheckpoint(ctx, eventhub.Checkpoint{Namespace: "MyHub-NS.servicebus.windows.net", EventHub: "MyHub", ConsumerGroup: "$Default", PartitionID: "0", Offset: ptr("4294967296"), SequenceNumber: ptr[int64](1234)}))
	require.NoError(t, store.SetCheckpoint(ctx, eventhub.Checkpoint{Namespace: "127.0.0.1:40123", EventHub: "hub", ConsumerGroup: "cg", PartitionID: "1", SequenceNumber: ptr[int64](5)}))

	assert.Equal(t, map[string]blobState{
		"myhub-ns.servicebus.windows.net/myhub/$default/ownership/0":  {Metadata: map[string]string{"ownerid": "Owner-A"}},
		"myhub-ns.servicebus.windows.net/myhub/$default/checkpoint/0": {Metadata: map[string]string{"offset": "4294967296", "sequencenumber": "1234"}},
		"127.0.0.1:40123/hub/cg/checkpoint/1":                         {Metadata: map[string]string{"sequencenumber": "5"}},
	}, listBlobs(t, cc))

	// The ownership's ETag and LastModifiedTime are the blob's own.
	props, err := cc.NewBlobClient("myhub-ns.servicebus.windows.net/myhub/$default/ownership/0").GetProperties(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, `"`+owned.ETag+`"`, string(*props.ETag), "the ETag header, unquoted")
	assert.True(t, props.LastModified.Equal(owned.LastModifiedTime))
}

// TestBlobStoreReadsOfficialBlobs writes blobs the way the official stores
// do, with raw azblob calls, and reads them back through BlobStore.
func TestBlobStoreReadsOfficialBlobs(t *testing.T) {
	t.Parallel()
	store, cc := newBlobStore(t)
	ctx := t.Context()
	put := func(name string, md map[string]string) {
		t.Helper()
		m := map[string]*string{}
		for k, v := range md {
			m[k] = &v
		}
		_, err := cc.NewBlockBlobClient(name).UploadBuffer(ctx, nil, &blockblob.UploadBufferOptions{Metadata: m})
		require.NoError(t, err)
	}
	const p = "myhub-ns.servicebus.windows.net/myhub/$default/"
	put(p+"ownership/0", map[string]string{"ownerid": "dotnet-processor"})
	put(p+"ownership/1", map[string]string{"OwnerId": "mixed-case-key"}) // storage keeps the key's case
	put(p+"ownership/2", nil)                                            // relinquished, value dropped (azure-sdk-for-go#21887)
	put(p+"checkpoint/0", map[string]string{"offset": "8589934592", "sequencenumber": "77", "clientidentifier": "x"})
	put(p+"checkpoint/1", map[string]string{"Offset": "12", "SequenceNumber": "3"})
	put(p+"checkpoint/2", map[string]string{"sequencenumber": "9"}) // azeventhubs with a nil offset
	put(p+"checkpoint/3/extra", map[string]string{"sequencenumber": "1"})
	// azeventhubs (Go) v2 does not lower-case names: a consumer moving from it
	// keeps its progress on partitions this store has not written yet.
	put("myhub-ns.servicebus.windows.net/myhub/$Default/checkpoint/2", map[string]string{"offset": "1", "sequencenumber": "1"})
	put("myhub-ns.servicebus.windows.net/myhub/$Default/checkpoint/4", map[string]string{"offset": "400", "sequencenumber": "40"})

	owned, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
	require.NoError(t, err)
	owners := map[string]string{}
	for _, o := range owned {
		owners[o.PartitionID] = o.OwnerID
		assert.NotEmpty(t, o.ETag)
		assert.False(t, o.LastModifiedTime.IsZero())
	}
	assert.Equal(t, map[string]string{"0": "dotnet-processor", "1": "mixed-case-key", "2": ""}, owners)

	cps, err := store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
	require.NoError(t, err)
	cp := func(partition string, offset *string, seq int64) eventhub.Checkpoint {
		return eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: partition, Offset: offset, SequenceNumber: &seq}
	}
	assert.Equal(t, map[string]eventhub.Checkpoint{
		"0": cp("0", ptr("8589934592"), 77),
		"1": cp("1", ptr("12"), 3),
		"2": cp("2", nil, 9), // the lower-case blob wins over the legacy one
		"4": cp("4", ptr("400"), 40),
	}, byCheckpointPartition(cps))

	// A claim on an official owner's ETag takes the partition over.
	taken := claimOne(t, store, ownership("0", "ours", byPartition(owned)["0"].ETag))
	assert.Equal(t, "ours", taken.OwnerID)
	assert.Equal(t, map[string]string{"ownerid": "ours"}, listBlobs(t, cc)[p+"ownership/0"].Metadata)

	put(p+"checkpoint/5", map[string]string{"sequencenumber": "five"})
	_, err = store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
	require.ErrorIs(t, err, checkpoints.ErrCorruptRecord)
}

// TestBlobStoreErrorsHoldNoSecrets: a SAS token travels in the URL's query
// and must not reach an error's text, whatever failed.
func TestBlobStoreErrorsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	const secret = "c2VjcmV0LXNpZ25hdHVyZQ"
	// Nothing listens on port 1: the transport fails, with the URL in its text.
	cc, err := container.NewClientWithNoCredential("http://127.0.0.1:1/devstoreaccount1/c?sv=2023-01-03&sp=rwl&sig="+secret, &container.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	require.NoError(t, err)
	store, err := checkpoints.NewBlobStore(cc, nil)
	require.NoError(t, err)

	err = store.SetCheckpoint(t.Context(), eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0", SequenceNumber: ptr[int64](1)})
	require.ErrorIs(t, err, checkpoints.ErrStorage)
	assert.NotContains(t, err.Error(), secret)
	assert.Contains(t, err.Error(), "myhub-ns.servicebus.windows.net/myhub/$default/checkpoint/0")
	for e := err; e != nil; e = errors.Unwrap(e) {
		assert.NotContains(t, e.Error(), secret, "an unwrapped cause leaks the token")
	}
	_, err = store.ClaimOwnership(t.Context(), []eventhub.Ownership{ownership("0", "a", "")})
	require.ErrorIs(t, err, checkpoints.ErrStorage)
	assert.NotContains(t, err.Error(), secret)
}

// TestBlobStoreWrongKey: an authentication failure is a storage error with
// the service's status and code, and no key in its text.
func TestBlobStoreWrongKey(t *testing.T) {
	t.Parallel()
	real := azuriteContainer(t)
	wrongKey := "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ=="
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, wrongKey)
	require.NoError(t, err)
	cc, err := container.NewClientWithSharedKeyCredential(real.URL(), cred, &container.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	require.NoError(t, err)
	store, err := checkpoints.NewBlobStore(cc, nil)
	require.NoError(t, err)

	_, err = store.ListOwnership(t.Context(), testNamespace, testEventHub, testGroup)
	require.ErrorIs(t, err, checkpoints.ErrStorage)
	var cerr *checkpoints.Error
	require.ErrorAs(t, err, &cerr)
	assert.Equal(t, http.StatusForbidden, cerr.StatusCode)
	assert.NotEmpty(t, cerr.StorageCode)
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re, "the service's answer stays reachable")
	assert.NotContains(t, err.Error(), wrongKey)
	assert.NotContains(t, err.Error(), azuriteKey)
}

// TestBlobStoreClaimConditions checks the requests behind a claim: a claim
// without ETag creates with If-None-Match "*", one with an ETag sets
// metadata with If-Match.
func TestBlobStoreClaimConditions(t *testing.T) {
	t.Parallel()
	real := azuriteContainer(t)
	var seen []string
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	require.NoError(t, err)
	cc, err := container.NewClientWithSharedKeyCredential(real.URL(), cred, &container.ClientOptions{
		ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{recordPolicy(func(r *http.Request) {
			comp := r.URL.Query().Get("comp")
			seen = append(seen, r.Method+" comp="+comp+" if-match="+r.Header.Get("If-Match")+" if-none-match="+r.Header.Get("If-None-Match"))
		})}},
	})
	require.NoError(t, err)
	store, err := checkpoints.NewBlobStore(cc, &checkpoints.BlobStoreOptions{ClaimConcurrency: 1})
	require.NoError(t, err)

	first := claimOne(t, store, ownership("0", "a", ""))
	second := claimOne(t, store, ownership("0", "b", first.ETag))
	assert.Equal(t, []string{
		"PUT comp= if-match= if-none-match=*",
		`PUT comp=metadata if-match="` + first.ETag + `" if-none-match=`,
	}, seen)

	// An ETag as the header spells it, quoted, is the same ETag.
	third := claimOne(t, store, ownership("0", "c", `"`+second.ETag+`"`))
	assert.NotContains(t, third.ETag, `"`)
}

type recordPolicy func(*http.Request)

func (p recordPolicy) Do(req *policy.Request) (*http.Response, error) {
	p(req.Raw())
	return req.Next()
}

func BenchmarkBlobStoreSetCheckpoint(b *testing.B) {
	store, _ := newBlobStore(b)
	ctx := context.Background()
	cp := eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0"}
	b.ReportAllocs()
	var seq int64
	for b.Loop() {
		seq++
		offset := strconv.FormatInt(seq*1024, 10)
		cp.SequenceNumber, cp.Offset = &seq, &offset
		if err := store.SetCheckpoint(ctx, cp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkpoints/s")
}
