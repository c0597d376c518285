package query

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const bigFleet = 10000

func bigDevices() []map[string]any {
	docs := make([]map[string]any, bigFleet)
	for i := range docs {
		docs[i] = makeDevice(i)
	}
	return docs
}

func mustParse(t testing.TB, s string) *Query {
	t.Helper()
	q, err := Parse(s)
	require.NoError(t, err)
	return q
}

func TestPageSizesYieldSameResult(t *testing.T) {
	t.Parallel()
	docs := bigDevices()
	store := newMemStore(deviceKey, docs)
	e := NewEngine(nil)
	for _, text := range []string{
		"SELECT * FROM devices",
		"SELECT deviceId, tags.floor AS f FROM devices WHERE tags.building = 'B' AND tags.floor > 2",
	} {
		q := mustParse(t, text)
		var want []string
		for _, d := range store.keys {
			if q.Matches(store.docs[d]) {
				want = append(want, d)
			}
		}
		for _, size := range []int{1, 7, 100, 1000, 5000} {
			t.Run(fmt.Sprintf("%s/%d", text[:20], size), func(t *testing.T) {
				t.Parallel()
				got := idsOf(decodeRows(t, runAll(t, e, q, store, size)))
				assert.Equal(t, want, got)
			})
		}
	}
}

func TestPageSizeLimits(t *testing.T) {
	t.Parallel()
	store := newMemStore(deviceKey, bigDevices())
	e := NewEngine(nil)
	q := mustParse(t, "SELECT * FROM devices")
	for _, tc := range []struct{ ask, want int }{{0, DefaultPageSize}, {-5, DefaultPageSize}, {1, 1}, {999, 999}, {1000, 1000}, {1001, MaxPageSize}, {1 << 30, MaxPageSize}} {
		res, err := e.Page(q, store, "", tc.ask)
		require.NoError(t, err)
		assert.Len(t, res.Items, tc.want, "asked for %d", tc.ask)
		assert.NotEmpty(t, res.Continuation)
	}
}

func TestLastPageHasNoContinuation(t *testing.T) {
	t.Parallel()
	f := newFleet(10)
	store := newMemStore(deviceKey, f.devices)
	e := NewEngine(nil)
	// Exactly one page's worth: no token pointing at an empty page.
	res, err := e.Page(mustParse(t, "SELECT * FROM devices"), store, "", 10)
	require.NoError(t, err)
	assert.Len(t, res.Items, 10)
	assert.Empty(t, res.Continuation)
	// Nothing matches: an empty (non-nil) page, no token.
	res, err = e.Page(mustParse(t, "SELECT * FROM devices WHERE deviceId = 'x'"), store, "", 10)
	require.NoError(t, err)
	assert.NotNil(t, res.Items)
	assert.Empty(t, res.Items)
	assert.Empty(t, res.Continuation)
}

func TestTopAcrossPages(t *testing.T) {
	t.Parallel()
	store := newMemStore(deviceKey, bigDevices())
	e := NewEngine(nil)
	for _, size := range []int{1, 7, 100, 1000} {
		got := idsOf(decodeRows(t, runAll(t, e, mustParse(t, "SELECT TOP 250 * FROM devices"), store, size)))
		assert.Equal(t, store.keys[:250], got, "page size %d", size)
	}
	// TOP larger than the collection.
	got := runAll(t, e, mustParse(t, "SELECT TOP 20000 deviceId FROM devices"), store, 1000)
	assert.Len(t, got, bigFleet)
}

// TestPagingStableUnderChanges inserts and deletes documents between pages,
// both behind and ahead of the cursor. Every document present for the whole
// scan must come back exactly once; no document may come back twice, and
// nothing that never existed may appear.
func TestPagingStableUnderChanges(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 7, 100, 1000} {
		for _, text := range []string{"SELECT * FROM devices", "SELECT TOP 100000 deviceId FROM devices WHERE IS_DEFINED(deviceId)"} {
			t.Run(fmt.Sprintf("%d/%s", size, text[:16]), func(t *testing.T) {
				t.Parallel()
				store := newMemStore(deviceKey, bigDevices())
				everPresent := map[string]bool{}
				deleted := map[string]bool{}
				for _, k := range store.keys {
					everPresent[k] = true
				}
				rng := rand.New(rand.NewPCG(uint64(size), 42))
				e := NewEngine(nil)
				q := mustParse(t, text)
				seen := map[string]int{}
				tok, next := "", 0
				for pages := 0; ; pages++ {
					require.Less(t, pages, 3*bigFleet)
					res, err := e.Page(q, store, tok, size)
					require.NoError(t, err)
					for _, id := range idsOf(decodeRows(t, res.Items)) {
						seen[id]++
					}
					if res.Continuation == "" {
						break
					}
					tok = res.Continuation
					// Mutate: a few deletes and inserts at random keys, some
					// sorting before the cursor and some after.
					for range 1 + rng.IntN(3) {
						if len(store.keys) > 0 {
							k := store.keys[rng.IntN(len(store.keys))]
							store.delete(k)
							deleted[k] = true
						}
						d := makeDevice(rng.IntN(bigFleet))
						id := fmt.Sprintf("%s-new%d", d["deviceId"], next)
						next++
						d["deviceId"] = id
						store.put(id, d)
						everPresent[id] = true
					}
				}
				for id, n := range seen {
					assert.Equal(t, 1, n, "%s returned %d times", id, n)
					assert.True(t, everPresent[id], "%s never existed", id)
				}
				for i := range bigFleet {
					id := fmt.Sprintf("dev-%03d", i)
					if !deleted[id] {
						assert.Equal(t, 1, seen[id], "%s stayed in the store but was returned %d times", id, seen[id])
					}
				}
			})
		}
	}
}

func TestAggregatePaging(t *testing.T) {
	t.Parallel()
	store := newMemStore(deviceKey, bigDevices())
	e := NewEngine(nil)
	for _, text := range []string{
		"SELECT tags.floor AS f, connectionState, COUNT() AS n FROM devices GROUP BY tags.floor, connectionState",
		"SELECT deviceId, COUNT() AS n FROM devices GROUP BY deviceId",
		"SELECT TOP 1234 deviceId, COUNT() AS n FROM devices GROUP BY deviceId",
	} {
		q := mustParse(t, text)
		whole := runAll(t, e, q, store, 1000)
		for _, size := range []int{1, 7, 100} {
			if len(whole) > 100 && size < 100 {
				continue // every page rescans all 10,000 documents
			}
			got := runAll(t, e, q, store, size)
			assert.Equal(t, whole, got, "%s, page size %d", text, size)
		}
	}
	q := mustParse(t, "SELECT TOP 1234 deviceId, COUNT() AS n FROM devices GROUP BY deviceId")
	assert.Len(t, runAll(t, e, q, store, 100), 1234)
}

func TestAggregatePagingUnderChanges(t *testing.T) {
	t.Parallel()
	store := newMemStore(deviceKey, newFleet(500).devices)
	e := NewEngine(nil)
	q := mustParse(t, "SELECT deviceId, COUNT() AS n FROM devices GROUP BY deviceId")
	seen := map[string]int{}
	deleted := map[string]bool{}
	tok := ""
	for i := 0; ; i++ {
		res, err := e.Page(q, store, tok, 10)
		require.NoError(t, err)
		for _, r := range decodeRows(t, res.Items) {
			seen[r["deviceId"].(string)]++
		}
		if res.Continuation == "" {
			break
		}
		tok = res.Continuation
		victim := fmt.Sprintf("dev-%03d", (i*37)%500)
		store.delete(victim)
		deleted[victim] = true
		d := makeDevice(i)
		d["deviceId"] = fmt.Sprintf("dev-%03d-x", i)
		store.put(d["deviceId"].(string), d)
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, id)
	}
	for i := range 500 {
		id := fmt.Sprintf("dev-%03d", i)
		if !deleted[id] {
			assert.Equal(t, 1, seen[id], id)
		}
	}
}

func TestContinuationRejected(t *testing.T) {
	t.Parallel()
	store := newMemStore(deviceKey, newFleet(300).devices)
	e := NewEngine(&EngineOptions{Secret: []byte("secret-1")})
	q := mustParse(t, "SELECT * FROM devices")
	first, err := e.Page(q, store, "", 10)
	require.NoError(t, err)
	tok := first.Continuation
	require.NotEmpty(t, tok)
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	require.NoError(t, err)

	bad := map[string]string{
		"garbage":        "!!!not-base64!!!",
		"short":          "AAAA",
		"padded base64":  base64.URLEncoding.EncodeToString(raw) + "==",
		"huge":           strings.Repeat("A", maxTokenLength+4),
		"empty payload":  base64.RawURLEncoding.EncodeToString(nil) + "A",
		"truncated tail": tok[:len(tok)-1],
		"extra tail":     tok + "A",
	}
	for i := 1; i < len(raw); i++ {
		bad[fmt.Sprintf("truncated to %d bytes", i)] = base64.RawURLEncoding.EncodeToString(raw[:i])
	}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			flipped := append([]byte(nil), raw...)
			flipped[i] ^= bit
			bad[fmt.Sprintf("byte %d bit %#x flipped", i, bit)] = base64.RawURLEncoding.EncodeToString(flipped)
		}
	}
	other, err := e.Page(mustParse(t, "SELECT * FROM devices WHERE status = 'enabled'"), store, "", 10)
	require.NoError(t, err)
	bad["token of another query"] = other.Continuation
	foreign, err := NewEngine(&EngineOptions{Secret: []byte("secret-2")}).Page(q, store, "", 10)
	require.NoError(t, err)
	bad["token of another engine"] = foreign.Continuation
	random, err := NewEngine(nil).Page(q, store, "", 10)
	require.NoError(t, err)
	bad["token of a random-secret engine"] = random.Continuation

	for name, token := range bad {
		res, err := e.Page(q, store, token, 10)
		assert.Nil(t, res, name)
		assert.True(t, errors.Is(err, ErrBadContinuation), "%s: got %v", name, err)
	}

	// The same secret (e.g. after an emulator restart) accepts the token,
	// and resumes where the first page stopped.
	again, err := NewEngine(&EngineOptions{Secret: []byte("secret-1")}).Page(q, store, tok, 10)
	require.NoError(t, err)
	assert.Equal(t, "dev-010", idsOf(decodeRows(t, again.Items))[0])

	// A token of an aggregate query is not accepted for the same text run
	// by a different query shape (bound by hash and kind).
	agg := mustParse(t, "SELECT deviceId, COUNT() AS n FROM devices GROUP BY deviceId")
	ap, err := e.Page(agg, store, "", 5)
	require.NoError(t, err)
	_, err = e.Page(q, store, ap.Continuation, 5)
	assert.ErrorIs(t, err, ErrBadContinuation)
}
