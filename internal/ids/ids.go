// Package ids checks device and module ids against the hub's rules before a
// request is sent, so that a bad id fails fast with a clear error, and makes
// the UUIDs used as request and message ids.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/iotkit-go/iothub"
)

// MaxLength is the longest id the hub accepts.
const MaxLength = 128

// allowed reports whether c may appear in an id: ASCII letters and digits and
// - . % _ * ? ! ( ) , : = @ $ '
func allowed(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '%', '_', '*', '?', '!', '(', ')', ',', ':', '=', '@', '$', '\'':
		return true
	}
	return false
}

// Check returns an *iothub.Error with code ArgumentInvalid when id is not a
// valid id; kind ("device", "module") names it in the message.
func Check(kind, id string) error {
	if id == "" {
		return argumentInvalid("%s id is empty", kind)
	}
	if len(id) > MaxLength {
		return argumentInvalid("%s id is %d characters long; the hub allows at most %d", kind, len(id), MaxLength)
	}
	for i := 0; i < len(id); i++ {
		if !allowed(id[i]) {
			return argumentInvalid("%s id %q has a character the hub does not allow (%q at byte %d); allowed are ASCII letters, digits and - . %% _ * ? ! ( ) , : = @ $ '", kind, id, id[i], i)
		}
	}
	return nil
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

// NewUUID returns a random (version 4) UUID in its text form, for request
// and message ids.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
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
