package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`Put "https://acct.blob.core.windows.net/c/ns/hub?comp=metadata&sig=abc%2Bdef&se=2030": dial tcp: refused`,
			`Put "https://acct.blob.core.windows.net/c/ns/hub?REDACTED": dial tcp: refused`},
		{`token sv=1&sig=SECRET&se=2`, `token sv=1&sig=REDACTED&se=2`},
		{`AccountKey=c2VjcmV0;EndpointSuffix=x`, `AccountKey=REDACTED;EndpointSuffix=x`},
		{`SharedAccessKey=abc`, `SharedAccessKey=REDACTED`},
		{`no secrets here: /a/b?`, `no secrets here: /a/b?`},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, redact(tc.in))
	}
}

func TestStorageErrorHidesURL(t *testing.T) {
	t.Parallel()
	cause := &url.Error{Op: "Put", URL: "https://acct.blob.core.windows.net/c/b?sig=TOPSECRET", Err: context.DeadlineExceeded}
	err := storageError("SetCheckpoint", "ns/hub/cg/checkpoint/0", fmt.Errorf("wrapped: %w", cause))
	assert.NotContains(t, err.Error(), "TOPSECRET")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "errors.Is still sees the cause")
	assert.ErrorIs(t, err, ErrStorage)
	var ue *url.Error
	assert.False(t, errors.As(err, &ue), "the URL cannot be reached through errors.As")
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		assert.NotContains(t, e.Error(), "TOPSECRET")
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	err := newError("ListOwnership", CodeInvalidName, "", "empty namespace")
	require.ErrorIs(t, err, ErrInvalidName)
	assert.NotErrorIs(t, err, ErrStorage)
	assert.NotErrorIs(t, err, &Error{Code: CodeInvalidName, Op: "other"}, "only sentinels match by code")
	assert.Equal(t, "checkpoints: ListOwnership InvalidName: empty namespace", err.Error())

	e := &Error{Op: "ClaimOwnership", Code: CodeStorage, Record: "a/b/c/ownership/0", StatusCode: 403, StorageCode: "AuthorizationFailure"}
	assert.Equal(t, "checkpoints: ClaimOwnership a/b/c/ownership/0 StorageFailure (status 403, AuthorizationFailure)", e.Error())
}

func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"0", "$Default", "127.0.0.1:40123", "..", "%2e", "ü", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		escaped := escapeName(name)
		for i := 0; i < len(escaped); i++ {
			c := escaped[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '%' || 'A' <= c && c <= 'F') {
				t.Fatalf("escapeName(%q) = %q holds %q", name, escaped, c)
			}
		}
		if name == "" {
			return
		}
		got, ok := recordPartition(escaped + recordSuffix)
		if !ok {
			t.Fatalf("recordPartition(%q) rejected escapeName(%q)", escaped+recordSuffix, name)
		}
		if want := strings.ToLower(name); got != want {
			t.Fatalf("round trip of %q: got %q, want %q", name, got, want)
		}
	})
}
