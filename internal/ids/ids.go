// Package ids checks device and module ids against the hub's rules before a
// request is sent, so that a bad id fails fast with a clear error.
package ids

import (
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
