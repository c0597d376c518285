package eventhubs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetentionByAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{Retention: time.Hour})
	dev := deviceFor(e.hub, "0")
	e.appendN(t, dev, 2) // events 0 and 1, at T and T+1s
	e.clock.Advance(30 * time.Minute)
	e.appendN(t, dev, 2) // bodies event-0 and event-1 again, seq 2 and 3, at T+30m2s
	e.clock.Advance(30 * time.Minute)

	// At T+1h0m4s the first two are older than an hour; the others are not.
	info := e.hub.partition("0").info(e.clock.Now())
	assert.Equal(t, int64(2), info.beginSeq)
	assert.Equal(t, int64(3), info.lastSeq)
	assert.False(t, info.empty)

	r, err := e.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts("amqp.annotation.x-opt-sequence-number >= '0'", nil, 10))
	require.NoError(t, err)
	m, err := r.Receive(testCtx(t), nil)
	require.NoError(t, err)
	assert.Equal(t, int64(2), m.Annotations["x-opt-sequence-number"], "a start before the retained events begins at the first one")

	e.clock.Advance(2 * time.Hour)
	info = e.hub.partition("0").info(e.clock.Now())
	assert.True(t, info.empty)
	assert.Equal(t, int64(4), info.beginSeq)
	assert.Equal(t, int64(3), info.lastSeq, "the last enqueued event is still reported once expired")
}

func TestRetentionBySize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{MaxBytes: 4096})
	dev := deviceFor(e.hub, "3")
	body := make([]byte, 1000)
	for range 10 {
		_, _, err := e.hub.Append(testCtx(t), Event{DeviceID: dev, Body: body})
		require.NoError(t, err)
	}
	p := e.hub.partition("3")
	p.mu.Lock()
	bytes, first, next := p.bytes, p.firstSeq, p.nextSeq
	p.mu.Unlock()
	assert.LessOrEqual(t, bytes, int64(4096))
	assert.Equal(t, int64(10), next)
	assert.Equal(t, int64(7), first, "three events of about 1.3 KB fit in 4 KB")

	r, err := e.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "3"), receiverOpts("", nil, 10))
	require.NoError(t, err)
	m, err := r.Receive(testCtx(t), nil)
	require.NoError(t, err)
	assert.Equal(t, int64(7), m.Annotations["x-opt-sequence-number"])
}

func TestRetentionCompactsTheLog(t *testing.T) {
	t.Parallel()
	p := newPartitionLog("0", time.Hour, 100*10, nil)
	now := time.Unix(1e9, 0)
	for i := range 5000 {
		p.mu.Lock()
		_, off, enq := p.reserveLocked(now)
		p.commitLocked(off, enq, make([]byte, 100), now)
		p.mu.Unlock()
		_ = i
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Equal(t, 10, len(p.events)-p.head)
	assert.Less(t, len(p.events), 2100, "dropped events do not pile up")
	assert.Equal(t, int64(4990), p.firstSeq)
}
