package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [SharedAccessKeyCredentialOptions].
const (
	DefaultTokenLifetime = time.Hour
	DefaultRenewAt       = 0.8
)

// maxCachedAudiences bounds the token cache of a [SharedAccessKeyCredential]:
// past it, entries whose token has expired are dropped when a new audience
// arrives.
const maxCachedAudiences = 1024

// SharedAccessKeyCredentialOptions configures a [SharedAccessKeyCredential].
// A nil *SharedAccessKeyCredentialOptions accepts the defaults.
type SharedAccessKeyCredentialOptions struct {
	// TokenLifetime is how long each signed token is valid for. The hub
	// accepts any lifetime; a shorter one limits the harm of a leaked token,
	// a longer one means fewer renewals (each is one HMAC, and on AMQP one
	// CBS put-token).
	// Default: 1 h ([DefaultTokenLifetime]). Must not be negative, and at
	// least one second once set.
	TokenLifetime time.Duration

	// RenewAt is the fraction of TokenLifetime after which a new token is
	// signed: with the defaults, a token valid for 1 h is replaced after
	// 48 min, which leaves 12 min for requests and connections already
	// holding it. Must be in (0, 1]; 1 renews only at expiry.
	// Default: 0.8 ([DefaultRenewAt]).
	RenewAt float64

	// SignWithKeyText signs with the key's text as the HMAC key, as Event
	// Hubs (and so IoT Hub's Event Hub-compatible endpoint) and Service Bus
	// do; IoT Hub itself decodes the key from base64 first. Credentials
	// made from an Event Hub-compatible connection string set it.
	// Default: false (IoT Hub signing).
	SignWithKeyText bool

	// Now is the clock tokens are signed and renewed by. Tests inject a fake
	// one to see renewals without waiting.
	// Default: [time.Now].
	Now func() time.Time
}

// SharedAccessKeyCredential signs SAS tokens with the key of a shared access
// policy: it is the credential of a connection string with a
// SharedAccessKey.
//
// It caches one token per audience and signs a new one once RenewAt of its
// lifetime has passed (after 48 min of 1 h by default), so it signs once per
// renewal, not once per request: concurrent calls to Token for the same
// audience wait for a single signature. It is safe for concurrent use. Its
// String method, and every fmt verb, hide the key.
type SharedAccessKeyCredential struct {
	keyName  string
	keyText  Secret      // as given, for EventHubsCredential
	key      secretBytes // the HMAC key: decoded, or the text with SignWithKeyText
	opts     SharedAccessKeyCredentialOptions
	lifetime time.Duration
	renewAt  time.Duration // after issue
	now      func() time.Time

	// entries maps audience to *audienceEntry. A sync.Map because it is
	// read on every request and written once per audience; mu serialises
	// the writes (and counts them, for pruning).
	entries  sync.Map
	mu       sync.Mutex
	nEntries int

	// onSign, if set, is called once per signature (tests count them).
	onSign func(audience string)
}

// audienceEntry holds the cached token of one audience. Readers load tok
// without locking; mu serialises renewals so that only one caller signs.
type audienceEntry struct {
	mu  sync.Mutex
	tok atomic.Pointer[cachedToken]
}

type cachedToken struct {
	token   AccessToken
	renewOn time.Time
}

// NewSharedAccessKeyCredential returns a credential that signs tokens with
// key, the base64 key of the shared access policy keyName. An empty keyName
// leaves skn out of the tokens (the form of device keys). A key that is not
// base64 is a [*SASError] (naming "key", never holding it); invalid options
// are an error too.
func NewSharedAccessKeyCredential(keyName, key string, opts *SharedAccessKeyCredentialOptions) (*SharedAccessKeyCredential, error) {
	k, err := decodeKey(key)
	if err != nil {
		return nil, &SASError{Field: "key", Problem: err.Error()}
	}
	if opts != nil && opts.SignWithKeyText {
		k = []byte(key)
	}
	c := &SharedAccessKeyCredential{
		keyText:  NewSecret(key),
		keyName:  keyName,
		key:      newSecretBytes(k),
		lifetime: DefaultTokenLifetime,
		now:      time.Now,
	}
	renewAt := DefaultRenewAt
	if opts != nil {
		switch {
		case opts.TokenLifetime < 0 || opts.TokenLifetime > 0 && opts.TokenLifetime < time.Second:
			return nil, fmt.Errorf("auth: SharedAccessKeyCredentialOptions.TokenLifetime %v is not at least 1s", opts.TokenLifetime)
		case opts.TokenLifetime > 0:
			c.lifetime = opts.TokenLifetime
		}
		switch {
		case opts.RenewAt < 0 || opts.RenewAt > 1 || opts.RenewAt != opts.RenewAt: // NaN too
			return nil, fmt.Errorf("auth: SharedAccessKeyCredentialOptions.RenewAt %v is not in (0, 1]", opts.RenewAt)
		case opts.RenewAt > 0:
			renewAt = opts.RenewAt
		}
		if opts.Now != nil {
			c.now = opts.Now
		}
	}
	c.renewAt = time.Duration(float64(c.lifetime) * renewAt)
	if opts != nil {
		c.opts = *opts
	}
	return c, nil
}

// EventHubsCredential returns a credential of the same policy and key that
// signs the Event Hubs way (SignWithKeyText), for the Event Hub-compatible
// endpoint an IoT hub redirects telemetry readers to.
func (c *SharedAccessKeyCredential) EventHubsCredential() *SharedAccessKeyCredential {
	o := c.opts
	o.SignWithKeyText = true
	ec, err := NewSharedAccessKeyCredential(c.keyName, c.keyText.Reveal(), &o)
	if err != nil {
		// The options and key were accepted once already.
		panic("auth: EventHubsCredential: " + err.Error())
	}
	ec.onSign = c.onSign
	return ec
}

// errNoAudience is returned for an empty audience: a SAS token needs a
// resource.
var errNoAudience = errors.New("auth: SAS token requested for an empty audience")

// Token returns a SAS token for audience, the resource URI to grant access
// to: the hub's host name for service operations. It returns the cached
// token until RenewAt of its lifetime has passed, then signs a new one.
// The token's Type is [TokenTypeSAS]. Token fails only for an empty audience
// or a done ctx.
func (c *SharedAccessKeyCredential) Token(ctx context.Context, audience string) (AccessToken, error) {
	if audience == "" {
		return AccessToken{}, errNoAudience
	}
	e := c.entry(audience)
	if t := e.tok.Load(); t != nil && c.now().Before(t.renewOn) {
		return t.token, nil
	}
	if err := ctx.Err(); err != nil {
		return AccessToken{}, err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	// Another caller may have renewed while this one waited.
	now := c.now()
	if t := e.tok.Load(); t != nil && now.Before(t.renewOn) {
		return t.token, nil
	}
	t := c.sign(audience, now)
	e.tok.Store(t)
	return t.token, nil
}

// sign signs a token for audience, valid from now for the lifetime.
func (c *SharedAccessKeyCredential) sign(audience string, now time.Time) *cachedToken {
	if c.onSign != nil {
		c.onSign(audience)
	}
	// se has a resolution of seconds: round the expiry down so the token
	// never outlives its lifetime, and keep the full renewal margin
	// (lifetime minus RenewAt of it) before that real expiry, so that a
	// holder renewing on schedule is never left with an expired token.
	expiry := now.Add(c.lifetime).Truncate(time.Second)
	value := signSAS(audience, c.keyName, c.key.reveal(), expiry.Unix())
	renewOn := expiry.Add(-(c.lifetime - c.renewAt))
	return &cachedToken{
		token:   AccessToken{Value: NewSecret(value), Type: TokenTypeSAS, ExpiresOn: expiry},
		renewOn: renewOn,
	}
}

// entry returns the cache entry of audience, creating it if needed.
func (c *SharedAccessKeyCredential) entry(audience string) *audienceEntry {
	if e, ok := c.entries.Load(audience); ok {
		return e.(*audienceEntry)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries.Load(audience); ok {
		return e.(*audienceEntry)
	}
	if c.nEntries >= maxCachedAudiences {
		c.pruneLocked()
	}
	e := &audienceEntry{}
	c.entries.Store(audience, e)
	c.nEntries++
	return e
}

// pruneLocked drops the entries whose token has expired (or was never
// signed). c.mu must be held. A caller still holding a dropped entry only
// loses its cached token to the next caller's fresh one.
func (c *SharedAccessKeyCredential) pruneLocked() {
	now := c.now()
	c.entries.Range(func(a, v any) bool {
		if t := v.(*audienceEntry).tok.Load(); t == nil || !now.Before(t.token.ExpiresOn) {
			c.entries.Delete(a)
			c.nEntries--
		}
		return true
	})
}

// KeyName returns the name of the shared access policy.
func (c *SharedAccessKeyCredential) KeyName() string { return c.keyName }

// String describes the credential without its key.
func (c *SharedAccessKeyCredential) String() string {
	return "SharedAccessKeyCredential{KeyName: " + strconv.Quote(c.keyName) + ", Key: " + redacted + ", TokenLifetime: " + c.lifetime.String() + "}"
}

// Format implements [fmt.Formatter] so that every verb, %#v and %+v
// included, prints [SharedAccessKeyCredential.String] and never the key.
func (c *SharedAccessKeyCredential) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(c.String()))
}
