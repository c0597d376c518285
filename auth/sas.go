package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sasPrefix starts every SAS token, followed by one space.
const sasPrefix = "SharedAccessSignature"

// redacted stands in for secrets in String methods.
const redacted = "<redacted>"

// SignSAS signs a shared access signature for resourceURI (a hub host name
// such as "myhub.azure-devices.net", or a narrower URI under it) with key, the
// base64 shared access key of the policy keyName, valid until expiry. The
// result is ready for an Authorization header or a CBS put-token:
//
//	SharedAccessSignature sr=<uri>&sig=<signature>&se=<expiry>&skn=<keyName>
//
// where the signature is the base64 HMAC-SHA256, under the decoded key, of
// the URL-encoded uri, a newline, and the expiry in Unix seconds. Values are
// URL-encoded as by [url.QueryEscape]; skn is left out when keyName is empty
// (the form device keys use). Expiry is truncated to the second.
//
// An empty resourceURI, a key that is not base64, or an expiry not after
// 1970 is a [*SASError] naming the argument.
func SignSAS(resourceURI, keyName, key string, expiry time.Time) (string, error) {
	if resourceURI == "" {
		return "", &SASError{Field: "resource", Problem: "is empty"}
	}
	k, err := decodeKey(key)
	if err != nil {
		return "", &SASError{Field: "key", Problem: err.Error()}
	}
	se := expiry.Unix()
	if se <= 0 {
		return "", &SASError{Field: "expiry", Problem: "is not after 1970-01-01T00:00:00Z"}
	}
	return signSAS(resourceURI, keyName, k, se), nil
}

// decodeKey decodes a base64 shared access key. Its error text never holds
// the key.
func decodeKey(key string) ([]byte, error) {
	if key == "" {
		return nil, errEmpty
	}
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return nil, errNotBase64
	}
	return k, nil
}

// Problems shared by the parsers; their text is a predicate for a field name.
var (
	errEmpty     = problem("is empty")
	errNotBase64 = problem("is not valid base64")
)

type problem string

func (p problem) Error() string { return string(p) }

// signSAS builds the token for an already decoded key.
func signSAS(resourceURI, keyName string, key []byte, se int64) string {
	sr := url.QueryEscape(resourceURI)
	var seBuf [20]byte
	seText := strconv.AppendInt(seBuf[:0], se, 10)
	sig := computeSignature(key, sr, seText)

	var b strings.Builder
	b.Grow(len(sasPrefix) + len(" sr=&sig=&se=&skn=") + len(sr) + len(sig) + len(seText) + len(keyName) + 8)
	b.WriteString(sasPrefix)
	b.WriteString(" sr=")
	b.WriteString(sr)
	b.WriteString("&sig=")
	b.WriteString(url.QueryEscape(sig))
	b.WriteString("&se=")
	b.Write(seText)
	if keyName != "" {
		b.WriteString("&skn=")
		b.WriteString(url.QueryEscape(keyName))
	}
	return b.String()
}

// computeSignature returns the base64 HMAC-SHA256 of encodedResource + "\n" +
// expiry under key.
func computeSignature(key []byte, encodedResource string, expiry []byte) string {
	return base64.StdEncoding.EncodeToString(mac(key, encodedResource, expiry))
}

func mac(key []byte, encodedResource string, expiry []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(encodedResource))
	h.Write([]byte{'\n'})
	h.Write(expiry)
	return h.Sum(nil)
}

// SAS is a parsed shared access signature. Its String method hides the
// signature; printing a SAS with any fmt verb does too.
type SAS struct {
	// Resource is the URI the token grants access to (sr), URL-decoded,
	// e.g. "myhub.azure-devices.net" or "myhub.azure-devices.net/devices/d1".
	Resource string
	// Signature is the base64 HMAC-SHA256 signature (sig), URL-decoded:
	// whoever holds it holds the token.
	Signature Secret
	// Expiry is when the token stops being valid (se), in UTC.
	Expiry time.Time
	// KeyName is the name of the shared access policy that signed the token
	// (skn); empty for tokens signed with a device key.
	KeyName string

	// signed holds the fields as they were encoded in the parsed token, since
	// the signature covers the encoded form and signers do not all encode
	// alike (url.QueryEscape, encodeURIComponent, WebUtility.UrlEncode).
	signed signedFields
}

type signedFields struct {
	resource, encodedResource string
	expiry                    time.Time
	encodedExpiry             string
}

// ParseSAS parses a shared access signature, with or without its leading
// "SharedAccessSignature " and with its fields (sr, sig, se, skn) in any
// order. sr, sig and se are required; skn is optional. Field names are
// matched without regard to case. A field that is missing, repeated, empty,
// badly encoded or unknown is a [*SASError] that names it (an unknown field
// by its position, since its name might be a fragment of the signature);
// errors never hold the signature.
//
// ParseSAS does not check the signature ([SAS.VerifySignature] does) nor the
// expiry ([SAS.Expired] does).
func ParseSAS(token string) (*SAS, error) {
	t := strings.TrimSpace(token)
	if hasPrefixFold(t, sasPrefix) {
		rest := t[len(sasPrefix):]
		if rest == "" {
			return nil, &SASError{Problem: "has no fields"}
		}
		if rest[0] != ' ' && rest[0] != '\t' {
			return nil, &SASError{Problem: `has no space after "SharedAccessSignature"`}
		}
		t = strings.TrimSpace(rest)
	}
	if t == "" {
		return nil, &SASError{Problem: "is empty"}
	}

	var (
		s             SAS
		seen          [4]bool // sr, sig, se, skn
		encodedSR     string
		encodedExpiry string
	)
	position := 0
	for part := range strings.SplitSeq(t, "&") {
		position++
		part = strings.TrimSpace(part)
		if part == "" {
			continue // tolerate "&&" and a trailing "&"
		}
		name, value, hasValue := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		index := sasFieldIndex(name)
		if index < 0 {
			return nil, &SASError{Field: "field " + strconv.Itoa(position), Problem: "is not one of sr, sig, se, skn"}
		}
		field := sasFieldNames[index]
		if !hasValue {
			return nil, &SASError{Field: field, Problem: "has no value"}
		}
		if seen[index] {
			return nil, &SASError{Field: field, Problem: "appears more than once"}
		}
		seen[index] = true
		value = strings.TrimSpace(value)
		decoded, err := url.QueryUnescape(value)
		if err != nil {
			return nil, &SASError{Field: field, Problem: "is not properly URL-encoded"}
		}
		switch field {
		case "sr":
			if decoded == "" {
				return nil, &SASError{Field: field, Problem: "is empty"}
			}
			s.Resource, encodedSR = decoded, value
		case "sig":
			// A '+' left unencoded decodes to ' ', which base64 never holds.
			decoded = strings.ReplaceAll(decoded, " ", "+")
			if decoded == "" {
				return nil, &SASError{Field: field, Problem: "is empty"}
			}
			if _, err := base64.StdEncoding.DecodeString(decoded); err != nil {
				return nil, &SASError{Field: field, Problem: "is not valid base64"}
			}
			s.Signature = NewSecret(decoded)
		case "se":
			se, ok := parseUnixSeconds(decoded)
			if !ok {
				return nil, &SASError{Field: field, Problem: "is not a positive Unix time in seconds"}
			}
			s.Expiry, encodedExpiry = time.Unix(se, 0).UTC(), value
		case "skn":
			s.KeyName = decoded
		}
	}
	for i, required := range [...]bool{true, true, true, false} {
		if required && !seen[i] {
			return nil, &SASError{Field: sasFieldNames[i], Problem: "is missing"}
		}
	}
	s.signed = signedFields{resource: s.Resource, encodedResource: encodedSR, expiry: s.Expiry, encodedExpiry: encodedExpiry}
	return &s, nil
}

var sasFieldNames = [...]string{"sr", "sig", "se", "skn"}

func sasFieldIndex(name string) int {
	for i, n := range sasFieldNames {
		if strings.EqualFold(name, n) {
			return i
		}
	}
	return -1
}

// parseUnixSeconds accepts only plain decimal digits (no sign), so that the
// value signed is the value read.
func parseUnixSeconds(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// VerifySignature reports whether the token was signed with key, a base64
// shared access key. The comparison takes constant time ([hmac.Equal]). A key
// or a signature that is not base64 verifies false.
//
// For a parsed token, the signature is checked over the resource and expiry
// exactly as they were encoded in the token; if Resource or Expiry has been
// changed since, over their [url.QueryEscape] and decimal forms.
func (s *SAS) VerifySignature(key string) bool {
	k, err := decodeKey(key)
	if err != nil {
		return false
	}
	return s.verify(k)
}

// VerifyKeyTextSignature reports whether the token was signed the Event
// Hubs way, with the key's text (not its base64-decoded bytes) as the HMAC
// key, as the Event Hubs and Service Bus SDKs sign. Constant time, like
// VerifySignature.
func (s *SAS) VerifyKeyTextSignature(key string) bool {
	if key == "" {
		return false
	}
	return s.verify([]byte(key))
}

func (s *SAS) verify(k []byte) bool {
	got, err := base64.StdEncoding.DecodeString(s.Signature.Reveal())
	if err != nil {
		return false
	}
	encodedResource, encodedExpiry := s.signed.encodedResource, s.signed.encodedExpiry
	if encodedResource == "" || s.signed.resource != s.Resource {
		encodedResource = url.QueryEscape(s.Resource)
	}
	if encodedExpiry == "" || !s.signed.expiry.Equal(s.Expiry) {
		encodedExpiry = strconv.FormatInt(s.Expiry.Unix(), 10)
	}
	return hmac.Equal(got, mac(k, encodedResource, []byte(encodedExpiry)))
}

// Expired reports whether the token has expired at now: a token is valid
// strictly before its expiry.
func (s *SAS) Expired(now time.Time) bool {
	return !now.Before(s.Expiry)
}

// String returns the token with its signature replaced by "<redacted>", for
// logs.
func (s *SAS) String() string {
	var b strings.Builder
	b.WriteString(sasPrefix)
	b.WriteString(" sr=")
	b.WriteString(url.QueryEscape(s.Resource))
	b.WriteString("&sig=" + redacted + "&se=")
	b.WriteString(strconv.FormatInt(s.Expiry.Unix(), 10))
	if s.KeyName != "" {
		b.WriteString("&skn=")
		b.WriteString(url.QueryEscape(s.KeyName))
	}
	return b.String()
}

// Format implements [fmt.Formatter] so that every verb, %#v and %+v
// included, prints [SAS.String] and never the signature. It has a value
// receiver so that a SAS printed by value is covered too.
func (s SAS) Format(f fmt.State, verb rune) {
	_, _ = f.Write([]byte(s.String()))
}
