package checkpoints

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/iotkit-go/iothub/eventhub"
)

// Blob metadata keys of the official Event Hubs checkpoint stores (.NET,
// Java, JavaScript, Python, Go). Storage keeps a key's case as written, so
// readers here compare keys case-insensitively; writers use these.
const (
	metaOwnerID        = "ownerid"
	metaOffset         = "offset"
	metaSequenceNumber = "sequencenumber"
)

// BlobStoreOptions configures a [BlobStore]. A nil *BlobStoreOptions accepts
// the defaults.
type BlobStoreOptions struct {
	// Logger receives a Debug record for each claim lost to another owner.
	// Records name blobs and owners, never URLs, keys or tokens.
	// Default: nothing is logged.
	Logger *slog.Logger

	// ClaimConcurrency is how many ownership claims of one ClaimOwnership
	// call are sent at once. Default: 8.
	ClaimConcurrency int
}

// BlobStore is an [eventhub.CheckpointStore] in an Azure Storage blob
// container, for Processors on many machines. It writes the blobs the
// official Event Hubs checkpoint stores write, so an official SDK's processor
// can resume from its checkpoints and this one from theirs:
//
//	<namespace>/<event hub>/<consumer group>/ownership/<partition>   metadata ownerid
//	<namespace>/<event hub>/<consumer group>/checkpoint/<partition>  metadata sequencenumber, offset
//
// with the whole name lower-cased and an empty body. An ownership's ETag and
// LastModifiedTime are the blob's own. A claim with an ETag sets the blob's
// metadata with If-Match; a claim without one creates the blob with
// If-None-Match "*"; the service refusing either (412 ConditionNotMet, 409
// BlobAlreadyExists, or 404 for a blob deleted meanwhile) means the claim
// was lost, not that it failed. Checkpoints are written unconditionally.
// ETags are returned without the quotes of the ETag header, in the form
// blob listings use; a quoted ETag is accepted as well.
//
// Compatibility notes: the .NET, Java, JavaScript and Python stores lower-case
// names as this one does; the Go azeventhubs store (v2.0.2) does not, so for
// a consumer group such as "$Default" it writes ".../$Default/checkpoint/0".
// ListCheckpoints also reads such mixed-case checkpoints when no lower-case
// one exists for the partition, so a consumer moving from azeventhubs keeps
// its progress; ownership is not shared with such a processor, so do not run
// both at once on one consumer group. Official readers insist on both
// sequencenumber and offset; write checkpoints with both when they must be
// read by an official SDK.
//
// The container must exist. The client's credential decides what the store
// may do: it needs to read, list and write blobs.
type BlobStore struct {
	client      *container.Client
	logger      *slog.Logger
	concurrency int
}

var _ eventhub.CheckpointStore = (*BlobStore)(nil)

// NewBlobStore returns a BlobStore that keeps its records in the container
// client refers to.
func NewBlobStore(client *container.Client, opts *BlobStoreOptions) (*BlobStore, error) {
	if client == nil {
		return nil, newError("NewBlobStore", CodeInvalidArgument, "", "nil container client")
	}
	b := &BlobStore{client: client, concurrency: 8}
	if opts != nil {
		b.logger = opts.Logger
		if opts.ClaimConcurrency > 0 {
			b.concurrency = opts.ClaimConcurrency
		}
	}
	return b, nil
}

// ListOwnership implements [eventhub.CheckpointStore].
func (b *BlobStore) ListOwnership(ctx context.Context, namespace, eventHub, consumerGroup string) ([]eventhub.Ownership, error) {
	const op = "ListOwnership"
	s := scope{namespace, eventHub, consumerGroup}
	if err := s.validate(op); err != nil {
		return nil, err
	}
	var out []eventhub.Ownership
	err := b.list(ctx, op, s.prefix(kindOwnership), func(partition, name string, item *container.BlobItem) error {
		p := item.Properties
		if p == nil || p.ETag == nil || p.LastModified == nil {
			return newError(op, CodeCorruptRecord, name, "listing without ETag or Last-Modified")
		}
		// An ownership without metadata was relinquished: Storage may drop a
		// metadata entry whose value is empty (azure-sdk-for-go#21887).
		owner, _ := metadataValue(item.Metadata, metaOwnerID)
		out = append(out, eventhub.Ownership{
			Namespace: namespace, EventHub: eventHub, ConsumerGroup: consumerGroup, PartitionID: partition,
			OwnerID: owner, LastModifiedTime: *p.LastModified, ETag: unquoteETag(*p.ETag),
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListCheckpoints implements [eventhub.CheckpointStore].
func (b *BlobStore) ListCheckpoints(ctx context.Context, namespace, eventHub, consumerGroup string) ([]eventhub.Checkpoint, error) {
	const op = "ListCheckpoints"
	s := scope{namespace, eventHub, consumerGroup}
	if err := s.validate(op); err != nil {
		return nil, err
	}
	byPartition := make(map[string]eventhub.Checkpoint)
	var order []string
	collect := func(legacy bool) func(partition, name string, item *container.BlobItem) error {
		return func(partition, name string, item *container.BlobItem) error {
			if _, seen := byPartition[partition]; seen && legacy {
				return nil // the lower-case blob is the current one
			}
			cp, err := decodeCheckpoint(op, name, item.Metadata)
			if err != nil {
				return err
			}
			cp.Namespace, cp.EventHub, cp.ConsumerGroup, cp.PartitionID = namespace, eventHub, consumerGroup, partition
			if _, seen := byPartition[partition]; !seen {
				order = append(order, partition)
			}
			byPartition[partition] = cp
			return nil
		}
	}
	prefix := s.prefix(kindCheckpoint)
	if err := b.list(ctx, op, prefix, collect(false)); err != nil {
		return nil, err
	}
	// azeventhubs (Go) wrote names in the caller's case; see the type's doc.
	if legacy := namespace + "/" + eventHub + "/" + consumerGroup + "/" + kindCheckpoint + "/"; legacy != prefix {
		if err := b.list(ctx, op, legacy, collect(true)); err != nil {
			return nil, err
		}
	}
	out := make([]eventhub.Checkpoint, 0, len(order))
	for _, p := range order {
		out = append(out, byPartition[p])
	}
	return out, nil
}

// list calls fn with every blob directly under prefix, with its metadata.
// The partition passed is the rest of the name, lower-cased; deeper names
// are not records and are skipped.
func (b *BlobStore) list(ctx context.Context, op, prefix string, fn func(partition, name string, item *container.BlobItem) error) error {
	pager := b.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  &prefix,
		Include: container.ListBlobsInclude{Metadata: true},
	})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return storageError(op, prefix, err)
		}
		if page.Segment == nil {
			continue
		}
		for _, item := range page.Segment.BlobItems {
			if item == nil || item.Name == nil {
				continue
			}
			partition := strings.TrimPrefix(*item.Name, prefix)
			if partition == "" || strings.Contains(partition, "/") {
				continue
			}
			if err := fn(strings.ToLower(partition), *item.Name, item); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeCheckpoint reads a checkpoint blob's metadata. Either value may be
// missing (the official Go store omits what is nil) but not both.
func decodeCheckpoint(op, name string, metadata map[string]*string) (eventhub.Checkpoint, error) {
	var cp eventhub.Checkpoint
	if v, ok := metadataValue(metadata, metaSequenceNumber); ok && v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cp, newError(op, CodeCorruptRecord, name, "sequencenumber "+strconv.Quote(v)+" is not an int64")
		}
		cp.SequenceNumber = &n
	}
	if v, ok := metadataValue(metadata, metaOffset); ok && v != "" {
		cp.Offset = &v
	}
	if cp.Offset == nil && cp.SequenceNumber == nil {
		return cp, newError(op, CodeCorruptRecord, name, "no offset nor sequencenumber in metadata")
	}
	return cp, nil
}

// metadataValue looks key up case-insensitively: azblob lower-cases keys of
// a listing, but a key read from response headers arrives canonicalised
// ("Ownerid"), and other writers may have used another case.
func metadataValue(metadata map[string]*string, key string) (string, bool) {
	if v, ok := metadata[key]; ok {
		if v == nil {
			return "", true
		}
		return *v, true
	}
	for k, v := range metadata {
		if strings.EqualFold(k, key) {
			if v == nil {
				return "", true
			}
			return *v, true
		}
	}
	return "", false
}

// ClaimOwnership implements [eventhub.CheckpointStore]. Claims are sent
// concurrently (see [BlobStoreOptions].ClaimConcurrency); the result keeps
// the order of ownerships.
func (b *BlobStore) ClaimOwnership(ctx context.Context, ownerships []eventhub.Ownership) ([]eventhub.Ownership, error) {
	const op = "ClaimOwnership"
	names := make([]string, len(ownerships))
	for i, o := range ownerships {
		s := scope{o.Namespace, o.EventHub, o.ConsumerGroup}
		if err := s.validate(op); err != nil {
			return nil, err
		}
		if err := validPartition(op, o.PartitionID); err != nil {
			return nil, err
		}
		if err := validOwner(op, o.OwnerID); err != nil {
			return nil, err
		}
		names[i] = s.recordName(kindOwnership, o.PartitionID)
	}
	results := make([]eventhub.Ownership, len(ownerships))
	won := make([]bool, len(ownerships))
	errs := make([]error, len(ownerships))
	sem := make(chan struct{}, b.concurrency)
	var wg sync.WaitGroup
	for i := range ownerships {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], won[i], errs[i] = b.claimOne(ctx, names[i], ownerships[i])
		}()
	}
	wg.Wait()
	var claimed []eventhub.Ownership
	for i := range ownerships {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if won[i] {
			claimed = append(claimed, results[i])
		}
	}
	return claimed, nil
}

func (b *BlobStore) claimOne(ctx context.Context, name string, o eventhub.Ownership) (eventhub.Ownership, bool, error) {
	const op = "ClaimOwnership"
	client := b.client.NewBlockBlobClient(name)
	owner := o.OwnerID
	metadata := map[string]*string{metaOwnerID: &owner}
	var etag *azcore.ETag
	var modified *time.Time
	var err error
	if o.ETag == "" {
		mustNotExist := azcore.ETagAny
		var resp blockblob.UploadResponse
		resp, err = client.Upload(ctx, streaming.NopCloser(bytes.NewReader(nil)), &blockblob.UploadOptions{
			Metadata: metadata,
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
				IfNoneMatch: &mustNotExist,
			}},
		})
		etag, modified = resp.ETag, resp.LastModified
	} else {
		ifMatch := azcore.ETag(`"` + unquoteETag(azcore.ETag(o.ETag)) + `"`)
		var resp blob.SetMetadataResponse
		resp, err = client.SetMetadata(ctx, metadata, &blob.SetMetadataOptions{
			AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
				IfMatch: &ifMatch,
			}},
		})
		etag, modified = resp.ETag, resp.LastModified
	}
	if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists, bloberror.BlobNotFound) {
		if b.logger != nil {
			b.logger.DebugContext(ctx, "checkpoints: ownership claim lost", "blob", name, "owner", o.OwnerID, "reason", errorCode(err))
		}
		return o, false, nil
	}
	if err != nil {
		return o, false, storageError(op, name, err)
	}
	if etag == nil || modified == nil {
		return o, false, newError(op, CodeStorage, name, "response without ETag or Last-Modified")
	}
	o.ETag, o.LastModifiedTime = unquoteETag(*etag), *modified
	return o, true, nil
}

// SetCheckpoint implements [eventhub.CheckpointStore]. Like the official
// stores it sets the metadata of the existing blob, and creates the blob
// when there is none yet.
func (b *BlobStore) SetCheckpoint(ctx context.Context, checkpoint eventhub.Checkpoint) error {
	const op = "SetCheckpoint"
	name, err := checkpointName(op, checkpoint)
	if err != nil {
		return err
	}
	metadata := make(map[string]*string, 2)
	if checkpoint.SequenceNumber != nil {
		seq := strconv.FormatInt(*checkpoint.SequenceNumber, 10)
		metadata[metaSequenceNumber] = &seq
	}
	if checkpoint.Offset != nil {
		offset := *checkpoint.Offset
		metadata[metaOffset] = &offset
	}
	client := b.client.NewBlockBlobClient(name)
	_, err = client.SetMetadata(ctx, metadata, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		_, err = client.Upload(ctx, streaming.NopCloser(bytes.NewReader(nil)), &blockblob.UploadOptions{Metadata: metadata})
	}
	if err != nil {
		return storageError(op, name, err)
	}
	return nil
}

// unquoteETag returns an ETag in one form whatever its source: Storage quotes
// the ETag header of a response ("\"0x8DC…\"") but not the Etag element of a
// listing (0x8DC…), and callers compare what they got from both.
func unquoteETag(e azcore.ETag) string {
	s := string(e)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// errorCode is the storage service's error code of err, for logs.
func errorCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}
