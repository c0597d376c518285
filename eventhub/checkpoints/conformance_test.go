package checkpoints_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

const (
	testNamespace = "myhub-ns.servicebus.windows.net"
	testEventHub  = "myhub"
	testGroup     = "$Default"
)

// testStore is the conformance suite every CheckpointStore passes. newStore
// returns an empty store; subtests that run in parallel get stores of their
// own.
func testStore(t *testing.T, newStore func(t *testing.T) eventhub.CheckpointStore) {
	t.Run("ClaimNew", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		want := ownership("0", "owner-a", "")

		claimed, err := store.ClaimOwnership(ctx, []eventhub.Ownership{want})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		got := claimed[0]
		assert.NotEmpty(t, got.ETag)
		assert.False(t, got.LastModifiedTime.IsZero())
		assert.Equal(t, "owner-a", got.OwnerID)
		assert.Equal(t, "0", got.PartitionID)

		// The record exists now: another claim that expects it not to loses.
		again, err := store.ClaimOwnership(ctx, []eventhub.Ownership{ownership("0", "owner-b", "")})
		require.NoError(t, err, "a lost race is not an error")
		assert.Empty(t, again)

		listed, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		require.Len(t, listed, 1)
		assertSameOwnership(t, got, listed[0])
	})

	t.Run("ConcurrentClaimersExactlyOneWins", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		const rounds, claimers = 25, 8
		for round := range rounds {
			partition := fmt.Sprint(round)
			// First every claimer creates the record, then every claimer
			// takes it over from the same ETag: each time one must win.
			first := raceClaims(t, store, claimers, func(i int) eventhub.Ownership {
				return ownership(partition, fmt.Sprintf("owner-%d", i), "")
			})
			require.Len(t, first, 1, "round %d, create: exactly one claimer wins", round)
			second := raceClaims(t, store, claimers, func(i int) eventhub.Ownership {
				return ownership(partition, fmt.Sprintf("next-%d", i), first[0].ETag)
			})
			require.Len(t, second, 1, "round %d, take over: exactly one claimer wins", round)
			assert.NotEqual(t, first[0].ETag, second[0].ETag)

			listed, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
			require.NoError(t, err)
			assertSameOwnership(t, second[0], byPartition(listed)[partition])
		}
	})

	t.Run("StaleETagLoses", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		first := claimOne(t, store, ownership("3", "owner-a", ""))
		renewed := claimOne(t, store, ownership("3", "owner-a", first.ETag))
		assert.NotEqual(t, first.ETag, renewed.ETag, "every write changes the ETag")

		stale, err := store.ClaimOwnership(ctx, []eventhub.Ownership{ownership("3", "owner-b", first.ETag)})
		require.NoError(t, err)
		assert.Empty(t, stale, "a claim on an ETag that was overwritten must lose")

		made := claimOne(t, store, ownership("3", "owner-b", renewed.ETag))
		assert.Equal(t, "owner-b", made.OwnerID)
	})

	t.Run("ClaimUnknownETagOnMissingRecordLoses", func(t *testing.T) {
		t.Parallel()
		store := newStore(t)
		got, err := store.ClaimOwnership(t.Context(), []eventhub.Ownership{ownership("9", "owner-a", `"0x8DEADBEEF"`)})
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("Relinquish", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		owned := claimOne(t, store, ownership("1", "owner-a", ""))
		released := claimOne(t, store, ownership("1", "", owned.ETag))
		assert.Empty(t, released.OwnerID)

		listed, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		require.Len(t, listed, 1)
		assert.Empty(t, listed[0].OwnerID, "a relinquished partition is listed with no owner")
		assert.Equal(t, released.ETag, listed[0].ETag)

		taken := claimOne(t, store, ownership("1", "owner-b", listed[0].ETag))
		assert.Equal(t, "owner-b", taken.OwnerID)
	})

	t.Run("SeveralClaimsInOneCall", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		claimOne(t, store, ownership("1", "owner-a", ""))
		got, err := store.ClaimOwnership(ctx, []eventhub.Ownership{
			ownership("0", "owner-b", ""), ownership("1", "owner-b", ""), ownership("2", "owner-b", ""),
		})
		require.NoError(t, err)
		assert.Equal(t, []string{"0", "2"}, partitionsOf(got), "the claims that lost are absent, the rest keep their order")
	})

	t.Run("ListsAreScoped", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		scopes := []struct{ ns, hub, group string }{
			{testNamespace, testEventHub, testGroup},
			{"other-ns.servicebus.windows.net", testEventHub, testGroup},
			{testNamespace, "myhub2", testGroup},       // shares a prefix with myhub
			{testNamespace, testEventHub, "$Default2"}, // and with $Default
			{"127.0.0.1:40123", testEventHub, "analytics"},
		}
		for i, s := range scopes {
			o := eventhub.Ownership{Namespace: s.ns, EventHub: s.hub, ConsumerGroup: s.group, PartitionID: fmt.Sprint(i), OwnerID: fmt.Sprint("owner-", i)}
			_, err := store.ClaimOwnership(ctx, []eventhub.Ownership{o})
			require.NoError(t, err)
			seq := int64(i)
			require.NoError(t, store.SetCheckpoint(ctx, eventhub.Checkpoint{Namespace: s.ns, EventHub: s.hub, ConsumerGroup: s.group, PartitionID: fmt.Sprint(i), SequenceNumber: &seq}))
		}
		for i, s := range scopes {
			owned, err := store.ListOwnership(ctx, s.ns, s.hub, s.group)
			require.NoError(t, err)
			require.Len(t, owned, 1, "scope %v", s)
			assert.Equal(t, eventhub.Ownership{Namespace: s.ns, EventHub: s.hub, ConsumerGroup: s.group, PartitionID: fmt.Sprint(i), OwnerID: fmt.Sprint("owner-", i)},
				withoutVersion(owned[0]))

			cps, err := store.ListCheckpoints(ctx, s.ns, s.hub, s.group)
			require.NoError(t, err)
			require.Len(t, cps, 1, "scope %v", s)
			assert.Equal(t, int64(i), *cps[0].SequenceNumber)
			assert.Equal(t, fmt.Sprint(i), cps[0].PartitionID)
		}

		none, err := store.ListOwnership(ctx, "nobody.servicebus.windows.net", testEventHub, testGroup)
		require.NoError(t, err)
		assert.Empty(t, none)
		noCps, err := store.ListCheckpoints(ctx, testNamespace, "nohub", testGroup)
		require.NoError(t, err)
		assert.Empty(t, noCps)
	})

	t.Run("NamesAreCaseInsensitive", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		claimOne(t, store, ownership("0", "owner-a", ""))
		seq := int64(7)
		require.NoError(t, store.SetCheckpoint(ctx, eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0", SequenceNumber: &seq}))

		owned, err := store.ListOwnership(ctx, "MyHub-NS.ServiceBus.Windows.Net", "MYHUB", "$DEFAULT")
		require.NoError(t, err)
		require.Len(t, owned, 1)
		assert.Equal(t, "MyHub-NS.ServiceBus.Windows.Net", owned[0].Namespace, "listed records carry the caller's names")
		assert.Equal(t, "$DEFAULT", owned[0].ConsumerGroup)

		// A claim spelled differently is a claim on the same record.
		lost, err := store.ClaimOwnership(ctx, []eventhub.Ownership{{Namespace: testNamespace, EventHub: "MyHub", ConsumerGroup: "$default", PartitionID: "0", OwnerID: "owner-b"}})
		require.NoError(t, err)
		assert.Empty(t, lost)

		cps, err := store.ListCheckpoints(ctx, testNamespace, "MyHub", "$default")
		require.NoError(t, err)
		require.Len(t, cps, 1)
		assert.Equal(t, int64(7), *cps[0].SequenceNumber)
	})

	t.Run("Checkpoints", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		cps, err := store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		assert.Empty(t, cps)

		tests := []struct {
			name      string
			partition string
			offset    *string
			seq       *int64
		}{
			{"zero", "0", ptr("0"), ptr[int64](0)},
			{"large", "1", ptr("98765432109876"), ptr[int64](math.MaxInt64)},
			{"nil offset", "2", nil, ptr[int64](42)},
			{"offset only", "3", ptr("12:345:6789"), nil}, // geo-replicated namespaces use non-numeric offsets
			{"negative sequence", "4", ptr("-1"), ptr[int64](-1)},
			{"odd offset text", "5", ptr("a b,c=d;x:y"), ptr[int64](5)},
		}
		want := map[string]eventhub.Checkpoint{}
		for _, tc := range tests {
			cp := eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: tc.partition, Offset: tc.offset, SequenceNumber: tc.seq}
			require.NoError(t, store.SetCheckpoint(ctx, cp), tc.name)
			want[tc.partition] = eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: tc.partition, Offset: clone(tc.offset), SequenceNumber: clone(tc.seq)}
		}
		// The store keeps its own copy: changing the caller's values after
		// the call changes nothing.
		*tests[0].offset, *tests[0].seq = "999", 999

		got, err := store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		assert.Equal(t, want, byCheckpointPartition(got))

		// Overwrite: the newest checkpoint replaces the old one whole, an
		// offset that is now nil included.
		require.NoError(t, store.SetCheckpoint(ctx, eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "1", SequenceNumber: ptr[int64](100)}))
		want["1"] = eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "1", SequenceNumber: ptr[int64](100)}
		got, err = store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		assert.Equal(t, want, byCheckpointPartition(got))

		// Checkpoints and ownership are separate records.
		owned, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		assert.Empty(t, owned)
	})

	t.Run("CheckpointWithoutPosition", func(t *testing.T) {
		t.Parallel()
		store := newStore(t)
		err := store.SetCheckpoint(t.Context(), eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0"})
		require.ErrorIs(t, err, checkpoints.ErrInvalidCheckpoint)
		// An offset travels as an HTTP header in the blob store; every store
		// refuses what would not survive that.
		for _, offset := range []string{"", "é", " 1", "1 ", "a\tb"} {
			err := store.SetCheckpoint(t.Context(), eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0", Offset: &offset, SequenceNumber: ptr[int64](1)})
			require.ErrorIs(t, err, checkpoints.ErrInvalidCheckpoint, "offset %q", offset)
		}
		cps, err := store.ListCheckpoints(t.Context(), testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		assert.Empty(t, cps)
	})

	t.Run("InvalidNames", func(t *testing.T) {
		t.Parallel()
		ctx, store := t.Context(), newStore(t)
		bad := []string{"", ".", "..", "../etc", "a/b", `a\b`, "a\x00b", "line\nbreak", "\xff"}
		for _, name := range bad {
			t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
				o := ownership("0", "owner", "")
				cp := eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0", SequenceNumber: ptr[int64](1)}
				for _, set := range []func(string){
					func(v string) { o.Namespace, cp.Namespace = v, v },
					func(v string) { o.EventHub, cp.EventHub = v, v },
					func(v string) { o.ConsumerGroup, cp.ConsumerGroup = v, v },
					func(v string) { o.PartitionID, cp.PartitionID = v, v },
				} {
					o, cp = ownership("0", "owner", ""), eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0", SequenceNumber: ptr[int64](1)}
					set(name)
					_, err := store.ClaimOwnership(ctx, []eventhub.Ownership{o})
					assert.ErrorIs(t, err, checkpoints.ErrInvalidName)
					assert.ErrorIs(t, store.SetCheckpoint(ctx, cp), checkpoints.ErrInvalidName)
					if o.PartitionID == "0" {
						_, err = store.ListOwnership(ctx, o.Namespace, o.EventHub, o.ConsumerGroup)
						assert.ErrorIs(t, err, checkpoints.ErrInvalidName)
						_, err = store.ListCheckpoints(ctx, o.Namespace, o.EventHub, o.ConsumerGroup)
						assert.ErrorIs(t, err, checkpoints.ErrInvalidName)
					}
				}
			})
		}
		for _, owner := range []string{"é", " a", "a\n"} {
			_, err := store.ClaimOwnership(ctx, []eventhub.Ownership{ownership("0", owner, "")})
			assert.ErrorIs(t, err, checkpoints.ErrInvalidName, "owner %q", owner)
		}
		// Nothing of the above was stored.
		owned, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
		require.NoError(t, err)
		assert.Empty(t, owned)
	})

	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		store := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := store.ListOwnership(ctx, testNamespace, testEventHub, testGroup)
		assert.ErrorIs(t, err, context.Canceled)
		_, err = store.ClaimOwnership(ctx, []eventhub.Ownership{ownership("0", "a", "")})
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, store.SetCheckpoint(ctx, eventhub.Checkpoint{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: "0", SequenceNumber: ptr[int64](1)}), context.Canceled)
		_, err = store.ListCheckpoints(ctx, testNamespace, testEventHub, testGroup)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// raceClaims lets n goroutines claim at once, each the ownership claim(i)
// returns, and returns the claims that succeeded.
func raceClaims(t *testing.T, store eventhub.CheckpointStore, n int, claim func(i int) eventhub.Ownership) []eventhub.Ownership {
	t.Helper()
	start := make(chan struct{})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []eventhub.Ownership
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			o := claim(i)
			<-start
			got, err := store.ClaimOwnership(t.Context(), []eventhub.Ownership{o})
			mu.Lock()
			defer mu.Unlock()
			won = append(won, got...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	require.Empty(t, errs)
	return won
}

func ownership(partition, owner, etag string) eventhub.Ownership {
	return eventhub.Ownership{Namespace: testNamespace, EventHub: testEventHub, ConsumerGroup: testGroup, PartitionID: partition, OwnerID: owner, ETag: etag}
}

func claimOne(t *testing.T, store eventhub.CheckpointStore, o eventhub.Ownership) eventhub.Ownership {
	t.Helper()
	got, err := store.ClaimOwnership(t.Context(), []eventhub.Ownership{o})
	require.NoError(t, err)
	require.Len(t, got, 1, "claim of %s by %q with ETag %q", o.PartitionID, o.OwnerID, o.ETag)
	return got[0]
}

// assertSameOwnership compares two ownerships; times are compared as
// instants, since a store may hand back another location or precision.
func assertSameOwnership(t *testing.T, want, got eventhub.Ownership) {
	t.Helper()
	assert.Equal(t, withoutTime(want), withoutTime(got))
	assert.True(t, want.LastModifiedTime.Equal(got.LastModifiedTime), "LastModifiedTime %v, want %v", got.LastModifiedTime, want.LastModifiedTime)
}

func withoutTime(o eventhub.Ownership) eventhub.Ownership {
	o.LastModifiedTime = time.Time{}
	return o
}

func withoutVersion(o eventhub.Ownership) eventhub.Ownership {
	o.LastModifiedTime, o.ETag = time.Time{}, ""
	return o
}

func byPartition(os []eventhub.Ownership) map[string]eventhub.Ownership {
	m := make(map[string]eventhub.Ownership, len(os))
	for _, o := range os {
		m[o.PartitionID] = o
	}
	return m
}

func byCheckpointPartition(cps []eventhub.Checkpoint) map[string]eventhub.Checkpoint {
	m := make(map[string]eventhub.Checkpoint, len(cps))
	for _, c := range cps {
		m[c.PartitionID] = c
	}
	return m
}

func partitionsOf(os []eventhub.Ownership) []string {
	var ps []string
	for _, o := range os {
		ps = append(ps, o.PartitionID)
	}
	return ps
}

func ptr[T any](v T) *T { return &v }

func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
