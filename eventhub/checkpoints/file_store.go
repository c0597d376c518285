package checkpoints

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/eventhub"
)

// FileStore is an [eventhub.CheckpointStore] that keeps one small JSON file
// per record under a directory. It is the default store for Processors on
// one machine: several processes may share the directory, and an ownership
// claim is decided under an exclusive lock of that record (flock(2) where the
// OS has it, an exclusive lock file elsewhere), so of two processes claiming
// one partition with the same ETag exactly one wins.
//
// Layout, with every name lower-cased and escaped to letters, digits, "-",
// "_" and %XX:
//
//	<dir>/<namespace>/<event hub>/<consumer group>/ownership/<partition>.json
//	<dir>/<namespace>/<event hub>/<consumer group>/checkpoint/<partition>.json
//
// Each write goes to a temporary file in the same directory, is flushed to
// disk, renamed over the record and the directory is flushed, so a crash
// leaves either the old record or the new one, never a mix. Temporary files
// a crash leaves behind (".<partition>.json.tmp-…") are ignored by readers.
// An ownership's ETag is a random token stored in its file, new on every
// write.
//
// The directory must be on a local file system: network file systems do not
// all honour flock(2) across machines. For several machines use [BlobStore].
type FileStore struct {
	dir string

	mu     sync.Mutex
	owners []func() // the owner slots handed out, to release at Close
}

var _ eventhub.CheckpointStore = (*FileStore)(nil)

// NewFileStore returns a FileStore that keeps its records under dir, creating
// dir if needed.
func NewFileStore(dir string) (*FileStore, error) {
	const op = "NewFileStore"
	if dir == "" {
		return nil, newError(op, CodeInvalidArgument, "", "empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, storageError(op, "", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, storageError(op, "", err)
	}
	return &FileStore{dir: abs}, nil
}

// Dir returns the absolute directory the store keeps its records under.
func (f *FileStore) Dir() string { return f.dir }

type fileOwnership struct {
	OwnerID      string    `json:"ownerId"`
	LastModified time.Time `json:"lastModified"`
	ETag         string    `json:"etag"`
}

type fileCheckpoint struct {
	Offset         *string `json:"offset,omitempty"`
	SequenceNumber *int64  `json:"sequenceNumber,omitempty"`
}

const (
	recordSuffix = ".json"
	lockSuffix   = ".lock"
)

// kindDir is the directory of the records of kind in s.
func (f *FileStore) kindDir(s scope, kind string) string {
	return filepath.Join(f.dir, escapeName(s.namespace), escapeName(s.eventHub), escapeName(s.consumerGroup), kind)
}

// ListOwnership implements [eventhub.CheckpointStore].
func (f *FileStore) ListOwnership(ctx context.Context, namespace, eventHub, consumerGroup string) ([]eventhub.Ownership, error) {
	const op = "ListOwnership"
	s := scope{namespace, eventHub, consumerGroup}
	if err := s.validate(op); err != nil {
		return nil, err
	}
	var out []eventhub.Ownership
	err := f.readAll(ctx, op, s, kindOwnership, func(partition string, data []byte) error {
		var r fileOwnership
		if err := json.Unmarshal(data, &r); err != nil || r.ETag == "" {
			return errors.New("not an ownership record")
		}
		out = append(out, eventhub.Ownership{
			Namespace: namespace, EventHub: eventHub, ConsumerGroup: consumerGroup, PartitionID: partition,
			OwnerID: r.OwnerID, LastModifiedTime: r.LastModified, ETag: r.ETag,
		})
		return nil
	})
	return out, err
}

// ListCheckpoints implements [eventhub.CheckpointStore].
func (f *FileStore) ListCheckpoints(ctx context.Context, namespace, eventHub, consumerGroup string) ([]eventhub.Checkpoint, error) {
	const op = "ListCheckpoints"
	s := scope{namespace, eventHub, consumerGroup}
	if err := s.validate(op); err != nil {
		return nil, err
	}
	var out []eventhub.Checkpoint
	err := f.readAll(ctx, op, s, kindCheckpoint, func(partition string, data []byte) error {
		var r fileCheckpoint
		if err := json.Unmarshal(data, &r); err != nil || r.Offset == nil && r.SequenceNumber == nil {
			return errors.New("not a checkpoint record")
		}
		out = append(out, eventhub.Checkpoint{
			Namespace: namespace, EventHub: eventHub, ConsumerGroup: consumerGroup, PartitionID: partition,
			Offset: r.Offset, SequenceNumber: r.SequenceNumber,
		})
		return nil
	})
	return out, err
}

// readAll calls decode with every record of kind in s. Records are read
// without a lock: a rename replaces a file whole, so a reader sees the old
// record or the new one.
func (f *FileStore) readAll(ctx context.Context, op string, s scope, kind string, decode func(partition string, data []byte) error) error {
	if err := ctx.Err(); err != nil {
		return storageError(op, "", err)
	}
	dir := f.kindDir(s, kind)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return storageError(op, s.prefix(kind), err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return storageError(op, "", err)
		}
		partition, ok := recordPartition(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue // a lock, a temporary file left by a crash, or not ours
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return storageError(op, s.recordName(kind, partition), err)
		}
		if err := decode(partition, data); err != nil {
			return newError(op, CodeCorruptRecord, s.recordName(kind, partition), err.Error()+" in "+filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// ClaimOwnership implements [eventhub.CheckpointStore].
func (f *FileStore) ClaimOwnership(ctx context.Context, ownerships []eventhub.Ownership) ([]eventhub.Ownership, error) {
	const op = "ClaimOwnership"
	for _, o := range ownerships {
		if err := (scope{o.Namespace, o.EventHub, o.ConsumerGroup}).validate(op); err != nil {
			return nil, err
		}
		if err := validPartition(op, o.PartitionID); err != nil {
			return nil, err
		}
		if err := validOwner(op, o.OwnerID); err != nil {
			return nil, err
		}
	}
	var claimed []eventhub.Ownership
	for _, o := range ownerships {
		if err := ctx.Err(); err != nil {
			return nil, storageError(op, "", err)
		}
		got, ok, err := f.claimOne(ctx, o)
		if err != nil {
			return nil, err
		}
		if ok {
			claimed = append(claimed, got)
		}
	}
	return claimed, nil
}

// claimOne reads, compares and writes one ownership record under its lock.
func (f *FileStore) claimOne(ctx context.Context, o eventhub.Ownership) (eventhub.Ownership, bool, error) {
	const op = "ClaimOwnership"
	s := scope{o.Namespace, o.EventHub, o.ConsumerGroup}
	name := s.recordName(kindOwnership, o.PartitionID)
	dir := f.kindDir(s, kindOwnership)
	base := escapeName(o.PartitionID) + recordSuffix
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return o, false, storageError(op, name, err)
	}
	unlock, err := lockRecord(ctx, filepath.Join(dir, escapeName(o.PartitionID)+lockSuffix))
	if err != nil {
		return o, false, storageError(op, name, err)
	}
	defer unlock()

	var cur fileOwnership
	data, err := os.ReadFile(filepath.Join(dir, base))
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return o, false, storageError(op, name, err)
	default:
		if err := json.Unmarshal(data, &cur); err != nil || cur.ETag == "" {
			return o, false, newError(op, CodeCorruptRecord, name, "not an ownership record in "+filepath.Join(dir, base))
		}
	}
	if o.ETag == "" && exists || o.ETag != "" && (!exists || cur.ETag != o.ETag) {
		return o, false, nil // someone else wrote it first
	}
	next := fileOwnership{OwnerID: o.OwnerID, LastModified: time.Now().UTC().Round(0), ETag: newETag()}
	data, err = json.Marshal(next)
	if err != nil {
		return o, false, storageError(op, name, err)
	}
	if err := writeFileAtomic(dir, base, data); err != nil {
		return o, false, storageError(op, name, err)
	}
	o.LastModifiedTime, o.ETag = next.LastModified, next.ETag
	return o, true, nil
}

// SetCheckpoint implements [eventhub.CheckpointStore].
func (f *FileStore) SetCheckpoint(ctx context.Context, checkpoint eventhub.Checkpoint) error {
	const op = "SetCheckpoint"
	name, err := checkpointName(op, checkpoint)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return storageError(op, name, err)
	}
	data, err := json.Marshal(fileCheckpoint{Offset: checkpoint.Offset, SequenceNumber: checkpoint.SequenceNumber})
	if err != nil {
		return storageError(op, name, err)
	}
	dir := f.kindDir(scope{checkpoint.Namespace, checkpoint.EventHub, checkpoint.ConsumerGroup}, kindCheckpoint)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return storageError(op, name, err)
	}
	// No lock: a checkpoint write is unconditional and the rename is atomic,
	// so concurrent writers leave one of their records whole.
	if err := writeFileAtomic(dir, escapeName(checkpoint.PartitionID)+recordSuffix, data); err != nil {
		return storageError(op, name, err)
	}
	return nil
}

// writeFileAtomic replaces dir/base with data so that a crash at any point
// leaves the old content or the new one: the data goes to a temporary file
// that is flushed, then renamed over base, then the directory entry is
// flushed.
func writeFileAtomic(dir, base string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, base)); err != nil {
		return err
	}
	return syncDir(dir)
}

// newETag returns a random token: unlike a content hash it differs even when
// an owner writes the same content twice in one clock tick.
func newETag() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// escapeName lower-cases name and keeps only letters, digits, "-" and "_",
// writing every other byte as %XX. The result never holds a path separator
// or a ".", so it cannot climb out of its directory nor be mistaken for a
// lock, temporary or hidden file.
func escapeName(name string) string {
	const hexDigits = "0123456789ABCDEF"
	name = strings.ToLower(name)
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// recordPartition returns the partition ID of a record file name, and false
// for any other file.
func recordPartition(fileName string) (string, bool) {
	escaped, ok := strings.CutSuffix(fileName, recordSuffix)
	if !ok || escaped == "" || strings.ContainsAny(escaped, "./") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(escaped); i++ {
		if escaped[i] != '%' {
			b.WriteByte(escaped[i])
			continue
		}
		if i+2 >= len(escaped) {
			return "", false
		}
		v, err := hex.DecodeString(escaped[i+1 : i+3])
		if err != nil {
			return "", false
		}
		b.WriteByte(v[0])
		i += 2
	}
	return b.String(), true
}
