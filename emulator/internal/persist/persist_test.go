package persist

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func all(t *testing.T, d *DB, bucket string) map[string]string {
	t.Helper()
	m := map[string]string{}
	require.NoError(t, d.ForEach(bucket, func(k, v []byte) error {
		m[string(k)] = string(v)
		return nil
	}))
	return m
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func TestWriteWaitReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, d.Write(Put("b", []byte("k1"), []byte("v1")), Put("b", []byte("k2"), []byte("v2"))).Wait(ctx(t)))
	require.NoError(t, d.Write(Put("b", []byte("k1"), []byte("v1b")), Delete("b", []byte("k2")), Put("c", []byte("x"), []byte("y"))).Wait(ctx(t)))
	assert.Equal(t, map[string]string{"k1": "v1b"}, all(t, d, "b"))
	v, err := d.Get("c", []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, "y", string(v))
	require.NoError(t, d.Close())
	assert.FileExists(t, filepath.Join(dir, FileName))

	d, err = Open(dir, nil)
	require.NoError(t, err)
	defer d.Close()
	assert.Equal(t, map[string]string{"k1": "v1b"}, all(t, d, "b"), "what was committed is there after a reopen")
	assert.Empty(t, all(t, d, "missing"))
}

// TestOrder writes the same key from many goroutines, each write ordered by
// a lock as a component's lock would: the last write in lock order wins,
// however the commits are grouped.
func TestOrder(t *testing.T) {
	t.Parallel()
	d, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer d.Close()
	var mu sync.Mutex
	last := 0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				mu.Lock()
				last++
				p := d.Write(Put("b", []byte("k"), []byte(fmt.Sprint(last))), Put("b", []byte(fmt.Sprintf("g%d", g)), []byte(fmt.Sprint(i))))
				mu.Unlock()
				assert.NoError(t, p.Wait(context.Background()))
			}
		}()
	}
	wg.Wait()
	got := all(t, d, "b")
	assert.Equal(t, "400", got["k"])
	for g := range 8 {
		assert.Equal(t, "49", got[fmt.Sprintf("g%d", g)])
	}
}

func TestRangeDeletes(t *testing.T) {
	t.Parallel()
	d, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer d.Close()
	var ops []Op
	for i := range uint64(10) {
		ops = append(ops, Put("log", seqKey(i), []byte{byte(i)}))
	}
	ops = append(ops, Put("q", []byte("dev-1\x00a"), nil), Put("q", []byte("dev-1\x00b"), []byte("b")),
		Put("q", []byte("dev-10\x00a"), []byte("c")), Put("q", []byte("dev-2\x00a"), []byte("d")))
	require.NoError(t, d.Write(ops...).Wait(ctx(t)))
	require.NoError(t, d.Write(DeleteBefore("log", seqKey(7)), DeletePrefix("q", []byte("dev-1\x00"))).Wait(ctx(t)))
	var left []uint64
	require.NoError(t, d.ForEach("log", func(k, _ []byte) error {
		left = append(left, binary.BigEndian.Uint64(k))
		return nil
	}))
	assert.Equal(t, []uint64{7, 8, 9}, left)
	assert.Equal(t, map[string]string{"dev-10\x00a": "c", "dev-2\x00a": "d"}, all(t, d, "q"))
	// Deleting from a bucket that is empty or absent is fine.
	require.NoError(t, d.Write(DeleteBefore("none", seqKey(3)), DeletePrefix("none", []byte("x")), Delete("none", []byte("y"))).Wait(ctx(t)))
}

func TestNilDB(t *testing.T) {
	t.Parallel()
	var d *DB
	assert.NoError(t, d.Write(Put("b", []byte("k"), []byte("v"))).Wait(ctx(t)))
	assert.NoError(t, d.Sync(ctx(t)))
	assert.NoError(t, d.ForEach("b", func(k, v []byte) error { return fmt.Errorf("called") }))
	v, err := d.Get("b", []byte("k"))
	assert.NoError(t, err)
	assert.Nil(t, v)
	assert.Equal(t, "", d.Path())
	assert.NoError(t, d.Close())
}

func TestCloseCommitsPending(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := Open(dir, nil)
	require.NoError(t, err)
	var last Pending
	for i := range 100 {
		last = d.Write(Put("b", []byte(fmt.Sprintf("k%03d", i)), []byte("v")))
	}
	require.NoError(t, d.Close())
	require.NoError(t, last.Wait(ctx(t)), "a write handed over before Close is committed")
	assert.ErrorIs(t, d.Write(Put("b", []byte("late"), nil)).Wait(ctx(t)), ErrClosed)
	assert.NoError(t, d.Close(), "Close twice")

	d, err = Open(dir, nil)
	require.NoError(t, err)
	defer d.Close()
	assert.Len(t, all(t, d, "b"), 100)
}

func TestLockedByAnother(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := Open(dir, nil)
	require.NoError(t, err)
	defer d.Close()
	_, err = Open(dir, &Options{LockTimeout: 50 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use by another process")
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err := Open(filepath.Join(file, "sub"), nil)
	require.Error(t, err, "a state directory under a file")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte("not a bbolt file, but long enough to be read as pages ........"), 0o600))
	_, err = Open(dir, nil)
	require.Error(t, err, "a state file that is not one")
}

func TestWaitHonoursContext(t *testing.T) {
	t.Parallel()
	d, err := Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer d.Close()
	c, cancel := context.WithCancel(context.Background())
	cancel()
	// Either committed already or cancelled: never blocks.
	err = d.Write(Put("b", []byte("k"), []byte("v"))).Wait(c)
	if err != nil {
		assert.ErrorIs(t, err, context.Canceled)
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", par), func(b *testing.B) {
			d, err := Open(b.TempDir(), nil)
			require.NoError(b, err)
			defer d.Close()
			val := make([]byte, 1024)
			var mu sync.Mutex
			var n uint64
			b.ReportAllocs()
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					n++
					p := d.Write(Put("b", seqKey(n), val))
					mu.Unlock()
					if err := p.Wait(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
