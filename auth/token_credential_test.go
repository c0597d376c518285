package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTokenCredential is an azcore.TokenCredential that hands out numbered
// tokens valid for lifetime, or fails with err.
type fakeTokenCredential struct {
	mu        sync.Mutex
	clock     *fakeClock
	lifetime  time.Duration
	refreshIn time.Duration // RefreshOn offset; zero leaves RefreshOn unset
	err       error
	calls     int
	scopes    [][]string
	block     chan struct{} // if set, GetToken waits for it to close
}

func (f *fakeTokenCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return azcore.AccessToken{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.scopes = append(f.scopes, opts.Scopes)
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	now := f.clock.Now()
	tok := azcore.AccessToken{Token: fmt.Sprintf("jwt-%d", f.calls), ExpiresOn: now.Add(f.lifetime)}
	if f.refreshIn > 0 {
		tok.RefreshOn = now.Add(f.refreshIn)
	}
	return tok, nil
}

func (f *fakeTokenCredential) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeTokenCredential) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func newTestTokenCredential(fake *fakeTokenCredential) *TokenCredential {
	c := NewTokenCredential(fake)
	c.now = fake.clock.Now
	return c
}

func TestTokenCredential(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	fake := &fakeTokenCredential{clock: clock, lifetime: time.Hour}
	cred := newTestTokenCredential(fake)

	tok, err := cred.Token(t.Context(), "ignored.azure-devices.net")
	require.NoError(t, err)
	assert.Equal(t, AccessToken{Value: NewSecret("jwt-1"), Type: TokenTypeJWT, ExpiresOn: clock.Now().Add(time.Hour)}, tok)
	assert.Equal(t, [][]string{{EntraIDScope}}, fake.scopes)
	assert.Equal(t, "Bearer jwt-1", AuthorizationHeader(tok))
}

func TestTokenCredentialCaching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		lifetime     time.Duration
		refreshIn    time.Duration
		refreshAfter time.Duration
	}{
		{"5 minutes before expiry", time.Hour, 0, 55 * time.Minute},
		{"at RefreshOn", time.Hour, 30 * time.Minute, 30 * time.Minute},
		{"halfway for short tokens", 6 * time.Minute, 0, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			fake := &fakeTokenCredential{clock: clock, lifetime: tt.lifetime, refreshIn: tt.refreshIn}
			cred := newTestTokenCredential(fake)
			ctx := t.Context()

			first, err := cred.Token(ctx, "a")
			require.NoError(t, err)
			clock.Advance(tt.refreshAfter - time.Second)
			again, err := cred.Token(ctx, "b")
			require.NoError(t, err)
			assert.Equal(t, first, again)
			assert.Equal(t, 1, fake.callCount())

			clock.Advance(time.Second)
			renewed, err := cred.Token(ctx, "a")
			require.NoError(t, err)
			assert.Equal(t, "jwt-2", renewed.Value.Reveal())
			assert.Equal(t, 2, fake.callCount())
		})
	}
}

func TestTokenCredentialErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("identity unavailable")

	t.Run("first call fails", func(t *testing.T) {
		t.Parallel()
		fake := &fakeTokenCredential{clock: newFakeClock(), lifetime: time.Hour, err: boom}
		_, err := newTestTokenCredential(fake).Token(t.Context(), "")
		require.ErrorIs(t, err, boom)
	})
	t.Run("refresh fails while cached token is valid", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		fake := &fakeTokenCredential{clock: clock, lifetime: time.Hour}
		cred := newTestTokenCredential(fake)
		first, err := cred.Token(t.Context(), "")
		require.NoError(t, err)
		fake.setErr(boom)
		clock.Advance(56 * time.Minute)
		got, err := cred.Token(t.Context(), "")
		require.NoError(t, err)
		assert.Equal(t, first, got)
		assert.Equal(t, 2, fake.callCount(), "a refresh was attempted")

		clock.Advance(4 * time.Minute)
		_, err = cred.Token(t.Context(), "")
		require.ErrorIs(t, err, boom, "expired cached token is not returned")
	})
	t.Run("nil credential", func(t *testing.T) {
		t.Parallel()
		_, err := NewTokenCredential(nil).Token(t.Context(), "")
		require.Error(t, err)
	})
	t.Run("waiting caller gives up with its context", func(t *testing.T) {
		t.Parallel()
		fake := &fakeTokenCredential{clock: newFakeClock(), lifetime: time.Hour, block: make(chan struct{})}
		cred := newTestTokenCredential(fake)
		done := make(chan error, 1)
		go func() {
			_, err := cred.Token(context.Background(), "")
			done <- err
		}()
		// Wait until the first caller holds the semaphore.
		require.Eventually(t, func() bool { return len(cred.sem) == 1 }, 5*time.Second, time.Millisecond)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := cred.Token(ctx, "")
		require.ErrorIs(t, err, context.Canceled)
		close(fake.block)
		require.NoError(t, <-done)
	})
}

func TestTokenCredentialServesValidTokenDuringRefresh(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	fake := &fakeTokenCredential{clock: clock, lifetime: time.Hour}
	cred := newTestTokenCredential(fake)
	first, err := cred.Token(t.Context(), "")
	require.NoError(t, err)

	clock.Advance(56 * time.Minute) // due for refresh, still valid
	fake.block = make(chan struct{})
	refreshed := make(chan AccessToken, 1)
	go func() {
		tok, err := cred.Token(context.Background(), "")
		assert.NoError(t, err)
		refreshed <- tok
	}()
	require.Eventually(t, func() bool { return len(cred.sem) == 1 }, 5*time.Second, time.Millisecond)

	got, err := cred.Token(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, first, got, "a caller waited for the refresh")

	close(fake.block)
	assert.Equal(t, "jwt-2", (<-refreshed).Value.Reveal())
	got, err = cred.Token(t.Context(), "")
	require.NoError(t, err)
	assert.Equal(t, "jwt-2", got.Value.Reveal())
}

func TestTokenCredentialConcurrentCallsFetchOnce(t *testing.T) {
	t.Parallel()
	fake := &fakeTokenCredential{clock: newFakeClock(), lifetime: time.Hour, block: make(chan struct{})}
	cred := newTestTokenCredential(fake)
	var wg sync.WaitGroup
	tokens := make([]AccessToken, 32)
	for i := range tokens {
		wg.Go(func() {
			tok, err := cred.Token(t.Context(), "")
			assert.NoError(t, err)
			tokens[i] = tok
		})
	}
	close(fake.block)
	wg.Wait()
	assert.Equal(t, 1, fake.callCount())
	for _, tok := range tokens {
		assert.Equal(t, "jwt-1", tok.Value.Reveal())
	}
}

func TestTokenCredentialStringRedacts(t *testing.T) {
	t.Parallel()
	fake := &fakeTokenCredential{clock: newFakeClock(), lifetime: time.Hour}
	cred := newTestTokenCredential(fake)
	_, err := cred.Token(t.Context(), "")
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d"} {
		out := fmt.Sprintf(verb, cred)
		assert.NotContains(t, out, "jwt-1", verb)
		assert.Contains(t, out, EntraIDScope, verb)
	}
}
