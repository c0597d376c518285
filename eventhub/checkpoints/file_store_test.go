package checkpoints_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

func newFileStore(t testing.TB) *checkpoints.FileStore {
	t.Helper()
	store, err := checkpoints.NewFileStore(t.TempDir())
	require.NoError(t, err)
	return store
}

func TestFileStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) eventhub.CheckpointStore { return newFileStore(t) })
}

func TestNewFileStore(t *testing.T) {
	t.Parallel()
	_, err := checkpoints.NewFileStore("")
	require.ErrorIs(t, err, checkpoints.ErrInvalidArgument)

	// A file where the directory should be.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = checkpoints.NewFileStore(file)
	require.ErrorIs(t, err, checkpoints.ErrStorage)

	// The directory is created, and kept as an absolute path.
	dir := filepath.Join(t.TempDir(), "a", "b")
	store, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	assert.Equal(t, dir, store.Dir())
	assert.DirExists(t, dir)
}

// TestFileStoreLayout pins the file names: records written by one version
// must be found by the next.
func TestFileStoreLayout(t *testing.T) {
	t.Parallel()
	ctx, store := t.Context(), newFileStore(t)
	tests := []struct {
		ns, hub, group, partition string
		want                      string
	}{
		{testNamespace, testEventHub, testGroup, "0", "myhub-ns%2Eservicebus%2Ewindows%2Enet/myhub/%24default/checkpoint/0.json"},
		{"127.0.0.1:40123", "Hub_1", "cg-A", "12", "127%2E0%2E0%2E1%3A40123/hub_1/cg-a/checkpoint/12.json"},
		{testNamespace, "..a", "%2e%2e", "ü", "myhub-ns%2Eservicebus%2Ewindows%2Enet/%2E%2Ea/%252e%252e/checkpoint/%C3%BC.json"},
	}
	for _, tc := range tests {
		cp := eventhub.Checkpoint{Namespace: tc.ns, EventHub: tc.hub, ConsumerGroup: tc.group, PartitionID: tc.partition, SequenceNumber: ptr[int64](1)}
		require.NoError(t, store.SetCheckpoint(ctx, cp))
		assert.FileExists(t, filepath.Join(store.Dir(), filepath.FromSlash(tc.want)))

		got, err := store.ListCheckpoints(ctx, tc.ns, tc.hub, tc.group)
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, tc.partition, got[0].PartitionID)
	}
	_, err := store.ClaimOwnership(ctx, []eventhub.Ownership{ownership("0", "a", "")})
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(store.Dir(), "myhub-ns%2Eservicebus%2Ewindows%2Enet", "myhub", "%24default", "ownership", "0.json"))

	// Nothing was written outside the store's directory, whatever the names.
	err = filepath.WalkDir(store.Dir(), func(path string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		rel, err := filepath.Rel(store.Dir(), path)
		require.NoError(t, err)
		assert.False(t, strings.HasPrefix(rel, ".."), path)
		return nil
	})
	require.NoError(t, err)
}

// TestFileStoreCrashLeftovers: what a crash can leave in a directory (a
// temporary file with half a record, a lock file) and files that are not
// ours must not break reads or claims.
func TestFileStoreCrashLeftovers(t *testing.T) {
	t.Parallel()
	ctx, store := t.Context(), newFileStore(t)
	owned := claimOne(t, store, ownership("0", "owner-a", ""))
	require.NoError(t, store.SetCheckpoint(ctx, eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0", SequenceNumber: ptr[int64](5)}))

	base := filepath.Join(store.Dir(), "myhub-ns%2Eservicebus%2Ewindows%2Enet", "myhub", "%24default")
	for _, kind := range []string{"ownership", "checkpoint"} {
		dir := filepath.Join(base, kind)
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".0.json.tmp-123456"), []byte(`{"ownerId":"owner-x","et`), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, ".1.json.tmp-99"), nil, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "1.lock"), nil, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "README.txt"), []byte("notes"), 0o644))
		require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.json"), 0o755))
	}

	listed, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assertSameOwnership(t, owned, listed[0])

	cps, err := store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
	require.NoError(t, err)
	require.Len(t, cps, 1)
	assert.Equal(t, int64(5), *cps[0].SequenceNumber)

	// A lock file nobody holds does not block a claim.
	claimOne(t, store, ownership("1", "owner-a", ""))
	claimOne(t, store, ownership("0", "owner-b", owned.ETag))
}

func TestFileStoreCorruptRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, kind, content string
	}{
		{"ownership not JSON", "ownership", "{"},
		{"ownership without ETag", "ownership", `{"ownerId":"a"}`},
		{"checkpoint not JSON", "checkpoint", "garbage"},
		{"checkpoint without position", "checkpoint", `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, store := t.Context(), newFileStore(t)
			dir := filepath.Join(store.Dir(), "myhub-ns%2Eservicebus%2Ewindows%2Enet", "myhub", "%24default", tc.kind)
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "7.json"), []byte(tc.content), 0o644))

			var err error
			if tc.kind == "ownership" {
				_, err = store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
				require.ErrorIs(t, err, checkpoints.ErrCorruptRecord)
				// A claim must not overwrite what it cannot read.
				_, claimErr := store.ClaimOwnership(ctx, []eventhub.Ownership{ownership("7", "a", "x")})
				require.ErrorIs(t, claimErr, checkpoints.ErrCorruptRecord)
			} else {
				_, err = store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
				require.ErrorIs(t, err, checkpoints.ErrCorruptRecord)
			}
			var cerr *checkpoints.Error
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, "myhub-ns.servicebus.windows.net/myhub/$default/"+tc.kind+"/7", cerr.Record)
		})
	}
}

// Environment of the helper processes of TestFileStoreAcrossProcesses.
const (
	helperDirEnv   = "IOTHUB_CHECKPOINTS_HELPER_DIR"
	helperOwnerEnv = "IOTHUB_CHECKPOINTS_HELPER_OWNER"
	helperIterEnv  = "IOTHUB_CHECKPOINTS_HELPER_ITERATIONS"
)

var helperPartitions = []string{"0", "1", "2", "3"}

// TestFileStoreAcrossProcesses runs several processes that all claim the
// same partitions of one FileStore directory in a loop, each claim
// conditioned on the ETag the process last listed. Every successful claim
// reports the ETag it was conditioned on and the one it got. If the store
// let a race be lost silently, two successful claims of a partition would
// name the same previous ETag; if it works, the claims of each partition
// form one unbroken chain from "none" to the ETag stored at the end.
func TestFileStoreAcrossProcesses(t *testing.T) {
	t.Parallel()
	const processes, iterations = 4, 60
	dir := t.TempDir()

	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout io.ReadCloser
	}
	children := make([]child, processes)
	for i := range children {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperOwnerEnv+"=process-"+strconv.Itoa(i), helperIterEnv+"="+strconv.Itoa(iterations))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		children[i] = child{cmd, stdin, stdout}
	}
	// Closing stdin is the start signal, so the processes race from the
	// first iteration on.
	for _, c := range children {
		require.NoError(t, c.stdin.Close())
	}

	type claim struct{ owner, prev, etag string }
	claims := map[string][]claim{} // by partition
	for _, c := range children {
		sc := bufio.NewScanner(c.stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 5 && f[0] == "claimed" {
				claims[f[1]] = append(claims[f[1]], claim{owner: f[2], prev: f[3], etag: f[4]})
			}
		}
		require.NoError(t, sc.Err())
		require.NoError(t, c.cmd.Wait(), "helper process failed")
	}

	store, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	final, err := store.ListOwnership(t.Context(), testNamespace, testEventHub, testGroup)
	require.NoError(t, err)
	finalBy := byPartition(final)

	allETags := map[string]bool{}
	total := 0
	for _, p := range helperPartitions {
		byPrev := map[string]claim{}
		for _, c := range claims[p] {
			require.False(t, allETags[c.etag], "ETag %s handed out twice", c.etag)
			allETags[c.etag] = true
			other, dup := byPrev[c.prev]
			require.False(t, dup, "partition %s: %s and %s both won a claim on ETag %s", p, other.owner, c.owner, c.prev)
			byPrev[c.prev] = c
		}
		// Follow the chain from the creation of the record.
		n, at, last := 0, "-", claim{}
		for {
			c, ok := byPrev[at]
			if !ok {
				break
			}
			n, at, last = n+1, c.etag, c
		}
		require.Equal(t, len(claims[p]), n, "partition %s: every successful claim is on the one chain", p)
		require.Equal(t, finalBy[p].ETag, at, "partition %s: the chain ends at the stored ETag", p)
		assert.Equal(t, last.owner, finalBy[p].OwnerID)
		total += n
	}
	t.Logf("%d processes × %d iterations × %d partitions: %d claims won", processes, iterations, len(helperPartitions), total)
	require.GreaterOrEqual(t, total, iterations, "the processes made progress")
}

// TestHelperProcess is one process of TestFileStoreAcrossProcesses; it does
// nothing in a normal test run.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process of TestFileStoreAcrossProcesses")
	}
	owner := os.Getenv(helperOwnerEnv)
	iterations, err := strconv.Atoi(os.Getenv(helperIterEnv))
	require.NoError(t, err)
	store, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, os.Stdin) // wait for the start signal
	require.NoError(t, err)

	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for range iterations {
		listed, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		seen := byPartition(listed)
		var want []eventhub.Ownership
		for _, p := range helperPartitions {
			want = append(want, ownership(p, owner, seen[p].ETag))
		}
		got, err := store.ClaimOwnership(ctx, want)
		require.NoError(t, err)
		for _, o := range got {
			prev := seen[o.PartitionID].ETag
			if prev == "" {
				prev = "-"
			}
			fmt.Fprintf(out, "claimed %s %s %s %s\n", o.PartitionID, owner, prev, o.ETag)
		}
	}
}

func BenchmarkFileStoreSetCheckpoint(b *testing.B) {
	store := newFileStore(b)
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

func BenchmarkFileStoreClaimOwnership(b *testing.B) {
	store := newFileStore(b)
	ctx := context.Background()
	o := ownership("0", "owner-a", "")
	b.ReportAllocs()
	for b.Loop() {
		got, err := store.ClaimOwnership(ctx, []eventhub.Ownership{o})
		if err != nil || len(got) != 1 {
			b.Fatal(err, got)
		}
		o = got[0]
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

// TestFileStoreOwnerID: owner ids are slots no two live holders share, and
// the id of a holder that is gone goes to the next one that asks.
func TestFileStoreOwnerID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	b, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	idA, err := a.OwnerID()
	require.NoError(t, err)
	require.NotEmpty(t, idA)
	idB, err := b.OwnerID()
	require.NoError(t, err)
	assert.NotEqual(t, idA, idB, "two live holders never share an id")
	idA2, err := a.OwnerID()
	require.NoError(t, err)
	assert.NotEqual(t, idA, idA2, "each call takes another slot")
	assert.NotEqual(t, idB, idA2)

	require.NoError(t, a.Close()) // as if a's process had died
	c, err := checkpoints.NewFileStore(dir)
	require.NoError(t, err)
	defer c.Close()
	idC, err := c.OwnerID()
	require.NoError(t, err)
	assert.Equal(t, idA, idC, "the lowest free slot, with the id it keeps")
	require.NoError(t, b.Close())

	// The slots do not show up as records.
	cps, err := c.ListCheckpoints(context.Background(), "ns", "eh", "$default")
	require.NoError(t, err)
	assert.Empty(t, cps)
}
