package iothub_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
)

func TestRetryOptionsDefaults(t *testing.T) {
	t.Parallel()
	o := iothub.RetryOptions{}.WithDefaults()
	assert.Equal(t, 3, o.MaxRetries)
	assert.Equal(t, 800*time.Millisecond, o.RetryDelay)
	assert.Equal(t, 60*time.Second, o.MaxRetryDelay)
	assert.Equal(t, 0, iothub.RetryOptions{MaxRetries: -1}.WithDefaults().MaxRetries)
	o = iothub.RetryOptions{RetryDelay: 2 * time.Second, MaxRetryDelay: time.Second}.WithDefaults()
	assert.Equal(t, 2*time.Second, o.MaxRetryDelay, "the cap is never below the first delay")
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	o := iothub.RetryOptions{RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}.WithDefaults()
	for range 200 {
		for retry, base := range map[int]time.Duration{1: 100, 2: 200, 3: 400, 4: 800} {
			base *= time.Millisecond
			d := o.Backoff(retry, 0)
			assert.GreaterOrEqual(t, d, base*3/4, "retry %d", retry)
			assert.Less(t, d, min(base*5/4, time.Second+1), "retry %d", retry)
		}
		assert.LessOrEqual(t, o.Backoff(30, 0), time.Second)
		assert.Equal(t, time.Second, o.Backoff(1, 5*time.Second), "Retry-After is capped")
		assert.GreaterOrEqual(t, o.Backoff(1, 700*time.Millisecond), 700*time.Millisecond, "Retry-After is honoured")
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	require.NoError(t, iothub.Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, iothub.Sleep(ctx, time.Hour), context.Canceled)
	require.ErrorIs(t, iothub.Sleep(ctx, 0), context.Canceled)
}
