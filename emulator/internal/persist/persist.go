// Package persist keeps an emulator's state in a directory, so that a
// standalone emulator survives restarts: one bbolt file (go.etcd.io/bbolt,
// a copy-on-write B+tree whose commits are atomic and fsynced, so a crash
// loses at most the writes not yet committed and never leaves the file
// unreadable).
//
// The hub's components keep their state in memory as before and describe
// each change to the DB as it happens, under their own locks, with
// [DB.Write]: the DB applies the changes in exactly that order, many at a
// time in one transaction (group commit), on a goroutine of its own. The
// caller answers its client once [Pending.Wait] says the change is on disk.
// At start, each component reads its buckets back ([DB.ForEach]).
//
// A nil *DB is valid and persists nothing: writes cost nothing and Wait
// returns at once, which is the emulator without a state directory.
package persist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the name of the state file in the state directory.
const FileName = "state.db"

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("persist: the state directory is closed")

// Op is one change: a put, a delete, or the deletion of a range of keys.
type Op struct {
	bucket string
	key    []byte
	value  []byte // nil for deletes
	kind   opKind
}

type opKind uint8

const (
	opPut opKind = iota
	opDelete
	opDeleteBefore // every key sorting before key
	opDeletePrefix // every key starting with key
)

// Put stores value under key in bucket (created if needed). The DB keeps
// value until the write is committed: do not modify it.
func Put(bucket string, key, value []byte) Op {
	return Op{bucket: bucket, key: key, value: value, kind: opPut}
}

// Delete removes key from bucket.
func Delete(bucket string, key []byte) Op {
	return Op{bucket: bucket, key: key, kind: opDelete}
}

// DeleteBefore removes every key of bucket that sorts before key: the old
// end of a log keyed by big-endian sequence numbers.
func DeleteBefore(bucket string, key []byte) Op {
	return Op{bucket: bucket, key: key, kind: opDeleteBefore}
}

// DeletePrefix removes every key of bucket that starts with prefix.
func DeletePrefix(bucket string, prefix []byte) Op {
	return Op{bucket: bucket, key: prefix, kind: opDeletePrefix}
}

// Options configure a DB. A nil *Options accepts the defaults.
type Options struct {
	// LockTimeout is how long Open waits for another process that has the
	// state file open to let go. Default: 1 s.
	LockTimeout time.Duration
	// OnError is told of a commit that failed (a full disk, say); every
	// write from then on fails too. Default: nothing.
	OnError func(error)
}

// DB is an open state directory. Its methods are safe for concurrent use,
// and a nil *DB is a valid DB that persists nothing.
type DB struct {
	bolt    *bolt.DB
	onError func(error)

	mu        sync.Mutex
	pending   []Op
	enqueued  uint64        // batches handed to Write
	committed uint64        // batches on disk
	err       error         // the first commit failure; sticky
	changed   chan struct{} // closed and replaced when committed or err changes
	closed    bool

	kick chan struct{} // wakes the flusher
	done chan struct{} // closed when the flusher has stopped
}

// Open opens (creating it if needed) the state directory dir.
func Open(dir string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("persist: state directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("persist: %s is in use by another process (another emulator with the same state directory?)", path)
		}
		return nil, fmt.Errorf("persist: open %s: %w", path, err)
	}
	d := &DB{
		bolt:    b,
		onError: o.OnError,
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	go d.flush()
	return d, nil
}

// Path returns the state file's path; "" for a nil DB.
func (d *DB) Path() string {
	if d == nil {
		return ""
	}
	return d.bolt.Path()
}

// Pending is a write on its way to disk.
type Pending struct {
	d  *DB
	id uint64
}

// Write hands ops to the DB, to be committed after every earlier write and
// before every later one. Call it under the lock that orders the changes it
// describes; it does not block. A nil DB ignores the ops.
func (d *DB) Write(ops ...Op) Pending {
	if d == nil || len(ops) == 0 {
		return Pending{}
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return Pending{d: d, id: ^uint64(0)}
	}
	d.pending = append(d.pending, ops...)
	d.enqueued++
	id := d.enqueued
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return Pending{d: d, id: id}
}

// Wait returns once the write is on disk, with the commit's error if it
// failed, or ctx's if ctx ends first.
func (p Pending) Wait(ctx context.Context) error {
	d := p.d
	if d == nil {
		return nil
	}
	for {
		d.mu.Lock()
		switch {
		case d.err != nil:
			err := d.err
			d.mu.Unlock()
			return err
		case d.committed >= p.id:
			d.mu.Unlock()
			return nil
		case d.closed && p.id > d.enqueued:
			d.mu.Unlock()
			return ErrClosed
		}
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Sync waits until every write handed to the DB so far is on disk.
func (d *DB) Sync(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	id := d.enqueued
	d.mu.Unlock()
	return Pending{d: d, id: id}.Wait(ctx)
}

// flush commits pending writes until Close, as many as have gathered in
// one transaction.
func (d *DB) flush() {
	defer close(d.done)
	for {
		<-d.kick
		for {
			d.mu.Lock()
			ops, upto, closed := d.pending, d.enqueued, d.closed
			d.pending = nil
			failed := d.err != nil
			d.mu.Unlock()
			if len(ops) == 0 {
				if closed {
					return
				}
				break
			}
			var err error
			if !failed {
				err = d.bolt.Update(func(tx *bolt.Tx) error { return apply(tx, ops) })
			}
			d.mu.Lock()
			if err != nil && d.err == nil {
				d.err = fmt.Errorf("persist: writing the state file: %w", err)
				if d.onError != nil {
					go d.onError(d.err)
				}
			}
			if d.err == nil {
				d.committed = upto
			}
			close(d.changed)
			d.changed = make(chan struct{})
			d.mu.Unlock()
		}
	}
}

func apply(tx *bolt.Tx, ops []Op) error {
	var (
		name   string
		bucket *bolt.Bucket
	)
	for _, op := range ops {
		if bucket == nil || op.bucket != name {
			b, err := tx.CreateBucketIfNotExists([]byte(op.bucket))
			if err != nil {
				return fmt.Errorf("bucket %q: %w", op.bucket, err)
			}
			bucket, name = b, op.bucket
		}
		var err error
		switch op.kind {
		case opPut:
			err = bucket.Put(op.key, op.value)
		case opDelete:
			err = bucket.Delete(op.key)
		case opDeleteBefore:
			err = deleteWhile(bucket.Cursor(), nil, func(k []byte) bool { return bytes.Compare(k, op.key) < 0 })
		case opDeletePrefix:
			err = deleteWhile(bucket.Cursor(), op.key, func(k []byte) bool { return bytes.HasPrefix(k, op.key) })
		}
		if err != nil {
			return fmt.Errorf("bucket %q: %w", op.bucket, err)
		}
	}
	return nil
}

// deleteWhile deletes keys from seek (the first key when nil) on, while
// match says so.
func deleteWhile(c *bolt.Cursor, seek []byte, match func(k []byte) bool) error {
	var k []byte
	if seek == nil {
		k, _ = c.First()
	} else {
		k, _ = c.Seek(seek)
	}
	for k != nil && match(k) {
		deleted := bytes.Clone(k)
		if err := c.Delete(); err != nil {
			return err
		}
		// After Delete, Next may skip a key; seeking past the deleted
		// one finds the next for sure.
		k, _ = c.Seek(deleted)
	}
	return nil
}

// ForEach calls fn with every key and value of bucket in key order (none
// when the bucket does not exist). The slices are valid only during fn.
func (d *DB) ForEach(bucket string, fn func(k, v []byte) error) error {
	if d == nil {
		return nil
	}
	return d.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(fn)
	})
}

// Get returns a copy of the value of key in bucket, or nil.
func (d *DB) Get(bucket string, key []byte) ([]byte, error) {
	if d == nil {
		return nil, nil
	}
	var v []byte
	err := d.bolt.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			v = bytes.Clone(b.Get(key))
		}
		return nil
	})
	return v, err
}

// Close commits what is pending, stops the flusher and closes the file.
func (d *DB) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		<-d.done
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	<-d.done
	d.mu.Lock()
	err := d.err
	d.mu.Unlock()
	if cerr := d.bolt.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
