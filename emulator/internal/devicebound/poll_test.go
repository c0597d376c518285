package devicebound

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTryReceive: a poll answers at once, nil on an empty queue, and locks
// what it hands out exactly as Receive does.
func TestTryReceive(t *testing.T) {
	t.Parallel()
	h, clk, _ := newTestHub(t, Options{LockTimeout: time.Minute})
	m, err := h.TryReceive(d1)
	require.NoError(t, err)
	assert.Nil(t, m, "an empty queue gives nothing, without waiting")

	require.NoError(t, h.Enqueue(d1, &Message{MessageID: "x"}, 1))
	m, err = h.TryReceive(d1)
	require.NoError(t, err)
	require.NotNil(t, m)
	assert.Equal(t, "x", m.MessageID)
	assert.Equal(t, 1, m.DeliveryCount)
	assert.NotEmpty(t, m.LockToken)

	again, err := h.TryReceive(d1)
	require.NoError(t, err)
	assert.Nil(t, again, "a locked message is not handed out twice")

	clk.add(2 * time.Minute)
	again, err = h.TryReceive(d1)
	require.NoError(t, err)
	require.NotNil(t, again, "a timed-out lock returns the message")
	assert.Equal(t, 2, again.DeliveryCount)
	assert.ErrorIs(t, h.Complete(d1, m.LockToken), ErrLockLost)
	require.NoError(t, h.Complete(d1, again.LockToken))

	h.Close()
	_, err = h.TryReceive(d1)
	assert.ErrorIs(t, err, ErrClosed)
}
