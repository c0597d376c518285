package deviceamqp

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFIFO(t *testing.T) {
	t.Parallel()
	q := newFIFO[int]()
	assert.Equal(t, 1, q.push(1))
	assert.Equal(t, 2, q.push(2))
	ctx := context.Background()
	v, ok := q.pop(ctx)
	assert.True(t, ok)
	assert.Equal(t, 1, v)
	v, _ = q.pop(ctx)
	assert.Equal(t, 2, v)
	assert.Zero(t, q.len())

	got := make(chan int)
	go func() { v, _ := q.pop(ctx); got <- v }()
	time.Sleep(10 * time.Millisecond)
	q.push(3)
	assert.Equal(t, 3, <-got, "a waiting pop wakes for the next push")

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, ok = q.pop(short)
	assert.False(t, ok, "pop ends with its context")
}
