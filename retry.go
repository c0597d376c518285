package iothub

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// Defaults of [RetryOptions].
const (
	DefaultMaxRetries    = 3
	DefaultRetryDelay    = 800 * time.Millisecond
	DefaultMaxRetryDelay = 60 * time.Second
)

// RetryOptions is the policy for repeating a request that failed in a way
// that may pass on a second try (see [IsRetriable]). Clients repeat only
// requests that are safe to repeat: a direct method that may have reached the
// device, for instance, is never sent twice.
//
// The wait before retry n (1, 2, …) is RetryDelay × 2^(n-1), capped at
// MaxRetryDelay, with up to ±25 % random jitter so that many clients do not
// retry in step; a Retry-After the hub sent takes precedence when longer.
type RetryOptions struct {
	// MaxRetries is how many times a request is repeated after its first
	// attempt. Default: 3. A negative value disables retries.
	MaxRetries int
	// RetryDelay is the wait before the first retry. Default: 800 ms.
	RetryDelay time.Duration
	// MaxRetryDelay caps any single wait, including a Retry-After the hub
	// asks for. Default: 60 s.
	MaxRetryDelay time.Duration
}

// WithDefaults returns o with every zero field set to its default.
func (o RetryOptions) WithDefaults() RetryOptions {
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.MaxRetryDelay <= 0 {
		o.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if o.MaxRetryDelay < o.RetryDelay {
		o.MaxRetryDelay = o.RetryDelay
	}
	return o
}

// Backoff returns how long to wait before retry number retry (1 for the first
// retry), given the Retry-After the hub asked for (zero if none). Call it on a
// value returned by WithDefaults.
func (o RetryOptions) Backoff(retry int, retryAfter time.Duration) time.Duration {
	if retry < 1 {
		retry = 1
	}
	d := o.RetryDelay
	for i := 1; i < retry && d < o.MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, o.MaxRetryDelay)
	// Jitter in [0.75, 1.25).
	d = time.Duration(float64(d) * (0.75 + rand.Float64()/2))
	if retryAfter > d {
		d = retryAfter
	}
	return min(d, o.MaxRetryDelay)
}

// IsRetriable reports whether err may pass if the same request is sent again
// after a pause: throttling (429), request time-outs (408), server errors
// (500, 502, 503, 504) and network failures. Other 4xx answers, cancelled
// contexts and errors of the caller's own making are not.
func IsRetriable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var he *Error
	if errors.As(err, &he) {
		switch he.StatusCode {
		case 408, 429, 500, 502, 503, 504:
			// 504101 is a device that did not answer a direct method in time:
			// the request reached the hub and repeating it repeats the method.
			return he.Code != CodeGatewayTimeout
		}
		if he.StatusCode != 0 || he.err == nil {
			return false
		}
	}
	return isNetworkError(err)
}

func isNetworkError(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op)
}

// Sleep waits for d or until ctx ends, whichever comes first, and returns
// ctx.Err() in the second case. Retry loops use it so that a cancelled context
// ends any wait at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
