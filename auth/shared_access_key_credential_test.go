package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newCountingCredential returns a credential on clock that counts its
// signatures per audience.
func newCountingCredential(t *testing.T, clock *fakeClock, opts *SharedAccessKeyCredentialOptions) (*SharedAccessKeyCredential, func(audience string) int64) {
	t.Helper()
	if opts == nil {
		opts = &SharedAccessKeyCredentialOptions{}
	}
	opts.Now = clock.Now
	cred, err := NewSharedAccessKeyCredential("service", testKey, opts)
	require.NoError(t, err)
	var mu sync.Mutex
	counts := map[string]int64{}
	cred.onSign = func(audience string) {
		mu.Lock()
		defer mu.Unlock()
		counts[audience]++
	}
	return cred, func(audience string) int64 {
		mu.Lock()
		defer mu.Unlock()
		return counts[audience]
	}
}

func TestSharedAccessKeyCredentialToken(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cred, signatures := newCountingCredential(t, clock, nil)

	tok, err := cred.Token(t.Context(), "myhub.azure-devices.net")
	require.NoError(t, err)
	assert.Equal(t, TokenTypeSAS, tok.Type)
	assert.Equal(t, clock.Now().Add(time.Hour), tok.ExpiresOn)
	sas, err := ParseSAS(tok.Value.Reveal())
	require.NoError(t, err)
	assert.Equal(t, "myhub.azure-devices.net", sas.Resource)
	assert.Equal(t, "service", sas.KeyName)
	assert.Equal(t, tok.ExpiresOn, sas.Expiry)
	assert.True(t, sas.VerifySignature(testKey))
	assert.Equal(t, "SharedAccessSignature sr=myhub.azure-devices.net&sig=", tok.Value.Reveal()[:len("SharedAccessSignature sr=myhub.azure-devices.net&sig=")])
	assert.Equal(t, int64(1), signatures("myhub.azure-devices.net"))
}

func TestSharedAccessKeyCredentialCachesPerAudience(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cred, signatures := newCountingCredential(t, clock, nil)
	ctx := t.Context()

	a1, err := cred.Token(ctx, "a.example")
	require.NoError(t, err)
	b1, err := cred.Token(ctx, "b.example")
	require.NoError(t, err)
	assert.NotEqual(t, a1.Value.Reveal(), b1.Value.Reveal())

	clock.Advance(10 * time.Minute)
	a2, err := cred.Token(ctx, "a.example")
	require.NoError(t, err)
	b2, err := cred.Token(ctx, "b.example")
	require.NoError(t, err)
	assert.Equal(t, a1, a2)
	assert.Equal(t, b1, b2)
	assert.Equal(t, int64(1), signatures("a.example"))
	assert.Equal(t, int64(1), signatures("b.example"))
}

func TestSharedAccessKeyCredentialRenewal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       SharedAccessKeyCredentialOptions
		lifetime   time.Duration
		renewAfter time.Duration
	}{
		{"defaults: 1 h, renewed after 48 min", SharedAccessKeyCredentialOptions{}, time.Hour, 48 * time.Minute},
		{"10 min, renewed after 5 min", SharedAccessKeyCredentialOptions{TokenLifetime: 10 * time.Minute, RenewAt: 0.5}, 10 * time.Minute, 5 * time.Minute},
		{"renew only at expiry", SharedAccessKeyCredentialOptions{TokenLifetime: time.Minute, RenewAt: 1}, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			opts := tt.opts
			cred, signatures := newCountingCredential(t, clock, &opts)
			ctx := t.Context()
			const audience = "myhub.azure-devices.net"

			first, err := cred.Token(ctx, audience)
			require.NoError(t, err)
			assert.Equal(t, clock.Now().Add(tt.lifetime), first.ExpiresOn)

			clock.Advance(tt.renewAfter - time.Second)
			again, err := cred.Token(ctx, audience)
			require.NoError(t, err)
			assert.Equal(t, first, again, "renewed too early")
			assert.Equal(t, int64(1), signatures(audience))

			clock.Advance(time.Second)
			renewed, err := cred.Token(ctx, audience)
			require.NoError(t, err)
			assert.NotEqual(t, first.Value.Reveal(), renewed.Value.Reveal())
			assert.Equal(t, clock.Now().Add(tt.lifetime), renewed.ExpiresOn)
			assert.False(t, renewed.ExpiresOn.Before(first.ExpiresOn))
			assert.Equal(t, int64(2), signatures(audience))
		})
	}
}

func TestSharedAccessKeyCredentialNeverReturnsExpiredToken(t *testing.T) {
	t.Parallel()
	// se has a resolution of one second: with a clock between seconds and a
	// one-second lifetime the expiry is rounded down, and the renewal must
	// come no later than it.
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 900_000_000, time.UTC)}
	cred, _ := newCountingCredential(t, clock, &SharedAccessKeyCredentialOptions{TokenLifetime: time.Second, RenewAt: 1})
	for range 5 {
		tok, err := cred.Token(t.Context(), "hub")
		require.NoError(t, err)
		assert.True(t, clock.Now().Before(tok.ExpiresOn), "now %v, expiry %v", clock.Now(), tok.ExpiresOn)
		clock.Advance(300 * time.Millisecond)
	}
}

func TestSharedAccessKeyCredentialConcurrentCallsSignOnce(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cred, signatures := newCountingCredential(t, clock, nil)
	const audience = "myhub.azure-devices.net"
	const callers = 64

	// Hold the first signer inside the signature until every caller has
	// started, so that they really do race for the same renewal.
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(callers)
	counting := cred.onSign
	var holds atomic.Int32
	cred.onSign = func(a string) {
		if holds.Add(1) == 1 {
			<-release
		}
		counting(a)
	}

	run := func() []AccessToken {
		tokens := make([]AccessToken, callers)
		var done sync.WaitGroup
		for i := range callers {
			done.Go(func() {
				started.Done()
				tok, err := cred.Token(context.Background(), audience)
				assert.NoError(t, err)
				tokens[i] = tok
			})
		}
		started.Wait()
		close(release)
		done.Wait()
		return tokens
	}
	tokens := run()
	for _, tok := range tokens {
		assert.Equal(t, tokens[0], tok)
	}
	assert.Equal(t, int64(1), signatures(audience))

	// The same holds for a renewal.
	clock.Advance(50 * time.Minute)
	holds.Store(0)
	release = make(chan struct{})
	started.Add(callers)
	renewed := run()
	for _, tok := range renewed {
		assert.Equal(t, renewed[0], tok)
	}
	assert.NotEqual(t, tokens[0], renewed[0])
	assert.Equal(t, int64(2), signatures(audience))
}

func TestSharedAccessKeyCredentialErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
		opts *SharedAccessKeyCredentialOptions
	}{
		{"key not base64", "not-base64!", nil},
		{"empty key", "", nil},
		{"negative lifetime", testKey, &SharedAccessKeyCredentialOptions{TokenLifetime: -time.Second}},
		{"sub-second lifetime", testKey, &SharedAccessKeyCredentialOptions{TokenLifetime: time.Millisecond}},
		{"renew at zero lifetime", testKey, &SharedAccessKeyCredentialOptions{RenewAt: -0.1}},
		{"renew after expiry", testKey, &SharedAccessKeyCredentialOptions{RenewAt: 1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cred, err := NewSharedAccessKeyCredential("service", tt.key, tt.opts)
			require.Error(t, err)
			assert.Nil(t, cred)
			if tt.key != "" {
				assert.NotContains(t, err.Error(), tt.key)
			}
		})
	}

	t.Run("bad key is a SASError", func(t *testing.T) {
		t.Parallel()
		_, err := NewSharedAccessKeyCredential("service", "not-base64!", nil)
		var sasErr *SASError
		require.ErrorAs(t, err, &sasErr)
		assert.Equal(t, "key", sasErr.Field)
	})
	t.Run("empty audience", func(t *testing.T) {
		t.Parallel()
		cred, err := NewSharedAccessKeyCredential("service", testKey, nil)
		require.NoError(t, err)
		_, err = cred.Token(t.Context(), "")
		require.Error(t, err)
	})
	t.Run("done context", func(t *testing.T) {
		t.Parallel()
		cred, err := NewSharedAccessKeyCredential("service", testKey, nil)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err = cred.Token(ctx, "hub")
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestSharedAccessKeyCredentialNoKeyName(t *testing.T) {
	t.Parallel()
	cred, err := NewSharedAccessKeyCredential("", testKey, nil)
	require.NoError(t, err)
	tok, err := cred.Token(t.Context(), "hub/devices/d1")
	require.NoError(t, err)
	assert.NotContains(t, tok.Value.Reveal(), "skn=")
}

func TestSharedAccessKeyCredentialPrunesExpiredAudiences(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cred, _ := newCountingCredential(t, clock, nil)
	for i := range maxCachedAudiences {
		_, err := cred.Token(t.Context(), fmt.Sprintf("hub/devices/d%d", i))
		require.NoError(t, err)
	}
	clock.Advance(2 * time.Hour)
	_, err := cred.Token(t.Context(), "hub")
	require.NoError(t, err)
	cred.mu.Lock()
	defer cred.mu.Unlock()
	assert.Equal(t, 1, cred.nEntries)
	n := 0
	cred.entries.Range(func(any, any) bool { n++; return true })
	assert.Equal(t, 1, n)
}

func TestSharedAccessKeyCredentialStringRedacts(t *testing.T) {
	t.Parallel()
	cred, err := NewSharedAccessKeyCredential("iothubowner", testKey, nil)
	require.NoError(t, err)
	key, err := decodeKey(testKey)
	require.NoError(t, err)
	assert.Equal(t, `SharedAccessKeyCredential{KeyName: "iothubowner", Key: <redacted>, TokenLifetime: 1h0m0s}`, cred.String())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out := fmt.Sprintf(verb, cred)
		assert.NotContains(t, out, testKey, verb)
		assert.NotContains(t, out, string(key), verb)
		assert.NotContains(t, out, fmt.Sprintf("%x", key), verb)
		assert.NotContains(t, out, fmt.Sprint(key), verb)
		assert.Contains(t, out, "<redacted>", verb)
	}
	var asCredential Credential = cred
	assert.NotContains(t, fmt.Sprintf("%#v", asCredential), testKey)
}

// TestSharedAccessKeyCredentialRenewsBeforeTruncatedExpiry: se has whole
// seconds, so a token signed at x.97 s expires up to a second early; the
// renewal must keep its full margin before that real expiry.
func TestSharedAccessKeyCredentialRenewsBeforeTruncatedExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	clock.Advance(970 * time.Millisecond)
	cred, signs := newCountingCredential(t, clock, &SharedAccessKeyCredentialOptions{TokenLifetime: 5 * time.Second})
	tok, err := cred.Token(context.Background(), "hub")
	require.NoError(t, err)
	assert.Equal(t, 0, tok.ExpiresOn.Nanosecond(), "se is whole seconds")
	// One second (20 % of 5 s) before the real expiry, a new token is due.
	clock.Advance(tok.ExpiresOn.Sub(clock.Now()) - time.Second)
	next, err := cred.Token(context.Background(), "hub")
	require.NoError(t, err)
	assert.Equal(t, int64(2), signs("hub"))
	assert.True(t, next.ExpiresOn.After(tok.ExpiresOn))
}

func TestSignWithKeyText(t *testing.T) {
	t.Parallel()
	exp := time.Unix(12345, 0)
	clock := func() time.Time { return exp.Add(-time.Hour) }
	iot, err := NewSharedAccessKeyCredential("k", testKey, &SharedAccessKeyCredentialOptions{Now: clock})
	require.NoError(t, err)
	eh := iot.EventHubsCredential()
	a, err := iot.Token(context.Background(), "hub")
	require.NoError(t, err)
	b, err := eh.Token(context.Background(), "hub")
	require.NoError(t, err)
	assert.NotEqual(t, a.Value.Reveal(), b.Value.Reveal(), "the two signings differ")

	// Event Hubs signs HMAC-SHA256(key text, url-encoded uri + "\n" + se).
	sas, err := ParseSAS(b.Value.Reveal())
	require.NoError(t, err)
	mac := hmac.New(sha256.New, []byte(testKey))
	mac.Write([]byte(url.QueryEscape("hub") + "\n" + strconv.FormatInt(sas.Expiry.Unix(), 10)))
	assert.Equal(t, base64.StdEncoding.EncodeToString(mac.Sum(nil)), sas.Signature.Reveal())
	assert.False(t, sas.VerifySignature(testKey), "not an IoT Hub signature")

	cs, err := ParseConnectionString("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=" + testKey + ";EntityPath=hub")
	require.NoError(t, err)
	cred, err := cs.Credential()
	require.NoError(t, err)
	tok, err := cred.Token(context.Background(), "sb://ns.servicebus.windows.net/hub")
	require.NoError(t, err)
	sas, err = ParseSAS(tok.Value.Reveal())
	require.NoError(t, err)
	assert.False(t, sas.VerifySignature(testKey), "the Event Hub form signs with the key's text")
}
