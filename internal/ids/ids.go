// Package ids checks device and module ids against the hub's rules before a
// request is sent, so that a bad id fails fast with a clear error, and makes
// the UUIDs used as request and message ids.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/iotkit-go/iothub"
)

// MaxLength is the longest id the hub accepts.
const MaxLength = 128

// Specials are the characters besides ASCII letters and digits that the
// hub allows in device and module ids, as its documentation lists them:
// - : . + % _ # * ? ! ( ) , = @ ; $ '. The SDK checks ids with them before
// sending, and the emulator with the same rule (ValidByte), so that what
// one allows the other does too.
const Specials = "-:.+%_#*?!(),=@;$'"

// ValidByte reports whether c may appear in an id.
func ValidByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(Specials, c) >= 0
}

// IsDotSegment reports whether id is "." or "..". The hub's characters
// allow them, but as a path segment of the REST API they mean "this" and
// "the parent" (RFC 3986; HTTP stacks, the .NET Uri class the service and
// its C# SDK use among them, remove them before routing), so no request
// could ever name such a device: they are refused.
func IsDotSegment(id string) bool { return id == "." || id == ".." }

// Check returns an *iothub.Error with code ArgumentInvalid when id is not a
// valid id; kind ("device", "module") names it in the message.
func Check(kind, id string) error {
	if id == "" {
		return argumentInvalid("%s id is empty", kind)
	}
	if len(id) > MaxLength {
		return argumentInvalid("%s id is %d characters long; the hub allows at most %d", kind, len(id), MaxLength)
	}
	if IsDotSegment(id) {
		return argumentInvalid("%s id %q cannot be used: as a path segment it names no resource", kind, id)
	}
	for i := 0; i < len(id); i++ {
		if !ValidByte(id[i]) {
			return argumentInvalid("%s id %q has a character the hub does not allow (%q at byte %d); allowed are ASCII letters, digits and %s", kind, id, id[i], i, spaced(Specials))
		}
	}
	return nil
}

// spaced writes the specials one by one, for messages.
func spaced(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Device checks a device id.
func Device(id string) error { return Check("device", id) }

// Module checks a device id and a module id.
func Module(deviceID, moduleID string) error {
	if err := Device(deviceID); err != nil {
		return err
	}
	return Check("module", moduleID)
}

func argumentInvalid(format string, args ...any) error {
	return &iothub.Error{Code: iothub.CodeArgumentInvalid, Name: iothub.CodeArgumentInvalid.String(), Message: fmt.Sprintf(format, args...)}
}

// ArgumentInvalid returns an *iothub.Error with code ArgumentInvalid for a bad
// argument caught before any request is sent.
func ArgumentInvalid(format string, args ...any) error { return argumentInvalid(format, args...) }

// NewUUIDBytes returns a random (version 4) UUID as its 16 bytes, for
// AMQP's uuid type.
func NewUUIDBytes() [16]byte {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// NewUUID returns a random (version 4) UUID in its text form, for request
// and message ids.
func NewUUID() string {
	b := NewUUIDBytes()
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
