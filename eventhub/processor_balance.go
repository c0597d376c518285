package eventhub

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"
)

// balance is one update: it renews this Processor's ownerships, notices
// the ones it lost, hands surplus partitions over, and claims free (or, when
// it must, stolen) partitions up to its share. It reports whether this
// Processor is still below its share, so that Run looks again sooner.
//
// The share: with n partitions and k live owners (owners whose records
// were renewed within PartitionExpiration, this Processor included), every
// owner gets n/k, and n%k of them one more. An owner that already has
// n/k+1 keeps it as long as the extra slots are not all taken.
func (r *run) balance(ctx context.Context) (under bool, err error) {
	p := r.p
	all, err := p.store.ListOwnership(ctx, r.ns, r.eh, r.cg)
	if err != nil {
		return false, err
	}
	now := time.Now()
	byPartition := make(map[string]Ownership, len(all))
	counts := map[string]int{p.ownerID: 0}
	for _, o := range all {
		byPartition[o.PartitionID] = o
		if o.OwnerID != "" && !r.expired(o, now) && slices.Contains(r.partitions, o.PartitionID) {
			counts[o.OwnerID]++
		}
	}

	// What the store says is ours is ours; what we hold and the store
	// gives to another (or has expired and freed) is lost.
	for id := range r.owned {
		if o, ok := byPartition[id]; !ok || o.OwnerID != p.ownerID {
			r.lose(ctx, id)
		}
	}
	for id, o := range byPartition {
		if o.OwnerID == p.ownerID && slices.Contains(r.partitions, id) {
			// Renewed with the ETag just read; a record of an earlier run
			// that did not relinquish is taken back the same way.
			r.owned[id] = o
		}
	}

	mine := counts[p.ownerID]
	n, k := len(r.partitions), len(counts)
	low, extra := n/k, n%k
	bigger := 0 // other owners at low+1 or more
	for owner, c := range counts {
		if owner != p.ownerID && c > low {
			bigger++
		}
	}
	target := low
	if bigger < extra {
		target = low + 1
	}

	var claims []Ownership
	for _, o := range r.owned {
		claims = append(claims, o) // renewal
	}
	switch {
	case mine > target:
		r.handOver(ctx, mine-target)
		claims = claims[:0]
		for _, o := range r.owned {
			claims = append(claims, o)
		}
	case mine < target:
		claims = append(claims, r.pick(byPartition, counts, target-mine, now)...)
	}
	stolen := map[string]bool{}
	for _, o := range claims {
		if prev := byPartition[o.PartitionID]; prev.OwnerID != "" && prev.OwnerID != p.ownerID && !r.expired(prev, now) {
			stolen[o.PartitionID] = true
		}
	}
	for owner := range r.overSince {
		if counts[owner] <= low+min(extra, 1) {
			delete(r.overSince, owner)
		}
	}
	if len(claims) == 0 {
		return mine < target, nil
	}
	for i := range claims {
		claims[i].OwnerID = p.ownerID
		claims[i].Namespace, claims[i].EventHub, claims[i].ConsumerGroup = r.ns, r.eh, r.cg
	}
	won, err := p.store.ClaimOwnership(ctx, claims)
	if err != nil {
		return true, err
	}
	wonIDs := make(map[string]bool, len(won))
	for _, o := range won {
		wonIDs[o.PartitionID] = true
		r.owned[o.PartitionID] = o
		if _, running := r.pumps[o.PartitionID]; !running {
			p.log(ctx, "iothub: partition claimed", slogPartition(o.PartitionID))
			delay := time.Duration(0)
			if stolen[o.PartitionID] {
				delay = p.opts.UpdateInterval * 3 / 2
			}
			r.start(r.ctx, o.PartitionID, delay)
		}
	}
	for id := range r.owned {
		if !wonIDs[id] {
			r.lose(ctx, id) // the renewal lost a race: someone claimed it
		}
	}
	return len(r.owned) < target, nil
}

// clockSlack allows for the store's clock being behind ours, and for stores
// that keep LastModifiedTime to the second (Blob Storage).
const clockSlack = 2 * time.Second

// expired tells whether an ownership was not renewed for
// PartitionExpiration: either this Processor has seen the same ETag for
// that long, or the store's LastModifiedTime is that old (with slack for
// clocks and timestamp precision), which covers records left by a crashed
// Processor before this one started.
func (r *run) expired(o Ownership, now time.Time) bool {
	exp := r.p.opts.PartitionExpiration
	seen, ok := r.etags[o.PartitionID]
	if !ok || seen.etag != o.ETag {
		seen = etagSeen{etag: o.ETag, at: now}
		r.etags[o.PartitionID] = seen
	}
	return now.Sub(seen.at) >= exp || now.Sub(o.LastModifiedTime) >= exp+clockSlack
}

// etagSeen is when this Processor first saw a record's ETag.
type etagSeen struct {
	etag string
	at   time.Time
}

// lose stops a partition another Processor now owns, without
// checkpointing.
func (r *run) lose(ctx context.Context, id string) {
	r.p.log(ctx, "iothub: partition ownership lost", slogPartition(id))
	r.stop(id, CloseReasonOwnershipLost)
	delete(r.owned, id)
}

// handOver closes count partitions with a final checkpoint and frees them
// for the Processors below their share.
func (r *run) handOver(ctx context.Context, count int) {
	ids := r.ids(r.owned)
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	ids = ids[:count]
	for _, id := range ids {
		r.p.log(ctx, "iothub: handing partition over", slogPartition(id))
		r.stop(id, CloseReasonRebalanced)
	}
	r.relinquish(ids)
}

// pick chooses up to want partitions to claim: free and expired ones
// first; then, stealing, from the busiest owner above its share — at once
// for the greedy strategy, and for the balanced one only to announce a
// Processor that owns nothing or from an owner that has stayed above its
// share for two update intervals without handing over.
func (r *run) pick(byPartition map[string]Ownership, counts map[string]int, want int, now time.Time) []Ownership {
	p := r.p
	var free, taken []Ownership
	for _, id := range r.partitions {
		o, ok := byPartition[id]
		switch {
		case !ok:
			free = append(free, Ownership{PartitionID: id})
		case o.OwnerID == p.ownerID:
		case o.OwnerID == "" || r.expired(o, now):
			free = append(free, o)
		case o.OwnerID != p.ownerID:
			taken = append(taken, o)
		}
	}
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	picked := free[:min(want, len(free))]
	want -= len(picked)
	if want == 0 {
		return picked
	}

	n, k := len(r.partitions), len(counts)
	ceiling := n / k
	if n%k != 0 {
		ceiling++
	}
	mine := counts[p.ownerID]
	rand.Shuffle(len(taken), func(i, j int) { taken[i], taken[j] = taken[j], taken[i] })
	for want > 0 {
		// The busiest owner above the ceiling.
		busiest, most := "", ceiling
		for owner, c := range counts {
			if owner != p.ownerID && c > most {
				busiest, most = owner, c
			}
		}
		if busiest == "" {
			break
		}
		since, seen := r.overSince[busiest]
		if !seen {
			r.overSince[busiest] = now
			since = now
		}
		patient := now.Sub(since) < 2*p.opts.UpdateInterval
		if p.opts.Strategy == StrategyBalanced && mine+len(picked) > 0 && patient {
			break
		}
		i := slices.IndexFunc(taken, func(o Ownership) bool { return o.OwnerID == busiest })
		if i < 0 {
			break
		}
		p.log(context.Background(), "iothub: stealing partition", slogPartition(taken[i].PartitionID), slog.String("from", busiest))
		picked = append(picked, taken[i])
		taken = slices.Delete(taken, i, i+1)
		counts[busiest]--
		want--
		if p.opts.Strategy == StrategyBalanced && mine+len(picked) == 1 && patient {
			break // announced; the others will hand over
		}
	}
	return picked
}
