package auth

import "fmt"

// Secret is a key, signature or token. No fmt verb prints it, and neither
// does the reflection fmt falls back on for a struct that holds one in an
// unexported field (%s of a client, say, which prints the client's fields,
// and for a bad verb also what one pointer leads to): the text sits two
// pointers away, and fmt follows at most one. Reveal returns the text for
// the code that signs or sends it. The zero value is the empty secret;
// reflect.DeepEqual (and testify's Equal) compare Secrets by their text.
type Secret struct{ p **string }

// NewSecret holds s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	sp := &s
	return Secret{p: &sp}
}

// Reveal returns the secret text.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return **s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil }

// String prints "<redacted>" for a secret, "" for the empty one.
func (s Secret) String() string {
	if s.IsZero() {
		return ""
	}
	return redacted
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return "auth.Secret(" + s.String() + ")" }

// Format prints String under every verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// secretBytes is a secret byte string, such as a decoded key, two
// pointers away for the same reason as Secret.
type secretBytes struct{ p **[]byte }

func newSecretBytes(b []byte) secretBytes {
	if len(b) == 0 {
		return secretBytes{}
	}
	bp := &b
	return secretBytes{p: &bp}
}

func (b secretBytes) reveal() []byte {
	if b.p == nil {
		return nil
	}
	return **b.p
}

func (b secretBytes) String() string                { return redacted }
func (b secretBytes) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }
