package eventhubs

import (
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func namedOpts(name string, epoch *int64) *amqp.ReceiverOptions {
	o := receiverOpts("", epoch, 10)
	o.Properties[ReceiverNameProperty] = name
	return o
}

func TestEpochTakeover(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		old, new int64
	}{
		{"higher epoch", 1, 2},
		{"equal epoch", 3, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			addr := partitionAddr("myhub", "$Default", "0")
			old, err := e.session(t).NewReceiver(testCtx(t), addr, namedOpts("first", &tt.old))
			require.NoError(t, err)
			newer, err := e.session(t).NewReceiver(testCtx(t), addr, namedOpts("second", &tt.new))
			require.NoError(t, err)

			_, err = old.Receive(testCtx(t), nil)
			rerr := requireDetached(t, err, "amqp:link:stolen")
			assert.Contains(t, rerr.Description, "New receiver 'second' with higher epoch of")
			assert.Contains(t, rerr.Description, "current receiver 'first'")

			// The new owner reads.
			e.appendN(t, deviceFor(e.hub, "0"), 1)
			require.Equal(t, bodies(0, 1), receiveBodies(t, newer, 1))
		})
	}
}

func TestEpochLowerRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	addr := partitionAddr("myhub", "$Default", "1")
	owner, err := e.session(t).NewReceiver(testCtx(t), addr, namedOpts("owner", ptr(int64(5))))
	require.NoError(t, err)
	_, err = e.session(t).NewReceiver(testCtx(t), addr, namedOpts("late", ptr(int64(4))))
	rerr := requireRefused(t, err, "amqp:link:stolen")
	assert.Contains(t, rerr.Description, "Receiver 'owner' with a higher epoch '5' already exists. Receiver 'late' with epoch 4 cannot be created.")

	// The owner keeps reading.
	e.appendN(t, deviceFor(e.hub, "1"), 1)
	require.Equal(t, bodies(0, 1), receiveBodies(t, owner, 1))
}

func TestEpochExcludesPlainReceivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	addr := partitionAddr("myhub", "$Default", "2")
	s := e.session(t)

	plain1, err := s.NewReceiver(testCtx(t), addr, receiverOpts("", nil, 10))
	require.NoError(t, err)
	plain2, err := s.NewReceiver(testCtx(t), addr, receiverOpts("", nil, 10))
	require.NoError(t, err)

	// An epoch receiver kicks the plain ones out...
	_, err = s.NewReceiver(testCtx(t), addr, receiverOpts("", ptr(int64(0)), 10))
	require.NoError(t, err)
	for _, r := range []*amqp.Receiver{plain1, plain2} {
		_, err := r.Receive(testCtx(t), nil)
		requireDetached(t, err, "amqp:link:stolen")
	}
	// ...and keeps new ones out.
	_, err = s.NewReceiver(testCtx(t), addr, receiverOpts("", nil, 10))
	rerr := requireRefused(t, err, "amqp:link:stolen")
	assert.Contains(t, rerr.Description, "created with epoch of '0', and so non-epoch receiver is not allowed")

	// Other consumer groups and partitions are not affected.
	r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "3"), receiverOpts("", nil, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close(testCtx(t)))
}

func TestEpochReleasedOnClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	addr := partitionAddr("myhub", "$Default", "0")
	s := e.session(t)
	owner, err := s.NewReceiver(testCtx(t), addr, receiverOpts("", ptr(int64(9)), 10))
	require.NoError(t, err)
	require.NoError(t, owner.Close(testCtx(t)))
	// Once the owner is gone, lower epochs and plain receivers may attach.
	// The release runs when the server sees the detach, which Close waits for.
	r, err := s.NewReceiver(testCtx(t), addr, receiverOpts("", nil, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close(testCtx(t)))
	r, err = s.NewReceiver(testCtx(t), addr, receiverOpts("", ptr(int64(1)), 10))
	require.NoError(t, err)
	require.NoError(t, r.Close(testCtx(t)))
}

func TestPlainReceiverLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{ConsumerGroups: []string{"other"}})
	addr := partitionAddr("myhub", "$Default", "3")
	s := e.session(t)
	var first *amqp.Receiver
	for i := range MaxPlainReceivers {
		r, err := s.NewReceiver(testCtx(t), addr, namedOpts("r", nil))
		require.NoError(t, err, "receiver %d", i)
		if first == nil {
			first = r
		}
	}
	_, err := s.NewReceiver(testCtx(t), addr, receiverOpts("", nil, 10))
	rerr := requireRefused(t, err, "amqp:resource-limit-exceeded")
	assert.Equal(t, "Exceeded the maximum number of allowed receivers per partition in a consumer group which is 5. "+
		"List of connected receivers - r, r, r, r, r.", rerr.Description)

	// The limit is per consumer group.
	r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "other", "3"), receiverOpts("", nil, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close(testCtx(t)))

	// Closing one frees a place.
	require.NoError(t, first.Close(testCtx(t)))
	r, err = s.NewReceiver(testCtx(t), addr, receiverOpts("", nil, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close(testCtx(t)))
}

func TestEpochConcurrentAttaches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	addr := partitionAddr("myhub", "$Default", "0")
	const n = 6
	sessions := make([]*amqp.Session, n)
	for i := range sessions {
		sessions[i] = e.session(t)
	}
	type result struct {
		epoch int64
		r     *amqp.Receiver
		err   error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			epoch := int64(i + 1)
			r, err := sessions[i].NewReceiver(testCtx(t), addr, receiverOpts("", &epoch, 10))
			results <- result{epoch, r, err}
		}()
	}
	var losers []*amqp.Receiver
	var winner *amqp.Receiver
	for range n {
		res := <-results
		switch {
		case res.epoch == n:
			require.NoError(t, res.err, "the highest epoch always wins")
			winner = res.r
		case res.err != nil:
			requireRefused(t, res.err, "amqp:link:stolen")
		default:
			losers = append(losers, res.r)
		}
	}
	for _, r := range losers {
		_, err := r.Receive(testCtx(t), nil)
		requireDetached(t, err, "amqp:link:stolen")
	}
	e.appendN(t, deviceFor(e.hub, "0"), 1)
	require.Equal(t, bodies(0, 1), receiveBodies(t, winner, 1))
}
