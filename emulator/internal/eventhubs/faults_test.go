package eventhubs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDetachReceiversFaults(t *testing.T) {
	t.Parallel()
	for _, cond := range []string{"com.microsoft:server-busy", "amqp:link:detach-forced"} {
		t.Run(cond, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			s := e.session(t)
			r0, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts("", nil, 10))
			require.NoError(t, err)
			r1, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "1"), receiverOpts("", ptr(int64(1)), 10))
			require.NoError(t, err)

			assert.Equal(t, 2, e.hub.DetachReceivers(cond, ""))
			_, err = r0.Receive(testCtx(t), nil)
			requireDetached(t, err, cond)
			_, err = r1.Receive(testCtx(t), nil)
			requireDetached(t, err, cond)

			// The client may come back, with the same epoch, and read on.
			e.appendN(t, deviceFor(e.hub, "1"), 1)
			r1, err = s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "1"), receiverOpts("", ptr(int64(1)), 10))
			require.NoError(t, err)
			require.Equal(t, bodies(0, 1), receiveBodies(t, r1, 1))
		})
	}
}

func TestCloseDetachesReceivers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r, err := e.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts("", nil, 10))
	require.NoError(t, err)
	require.NoError(t, e.hub.Close())
	_, err = r.Receive(testCtx(t), nil)
	requireDetached(t, err, "amqp:link:detach-forced")
	_, err = e.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts("", nil, 10))
	requireRefused(t, err, "amqp:link:detach-forced")
}
