package registry

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/internal/ids"
)

// MaxIDLength is the longest device or module id the hub accepts.
const MaxIDLength = ids.MaxLength

// Authentication types, as the hub spells them on the wire.
const (
	AuthSAS                  = "sas"
	AuthSelfSigned           = "selfSigned"
	AuthCertificateAuthority = "certificateAuthority"
	AuthNone                 = "none"
)

// Device statuses, as the hub spells them on the wire.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Connection states, as the hub spells them on the wire.
const (
	Disconnected = "Disconnected"
	Connected    = "Connected"
)

// Symmetric key lengths the hub accepts, in decoded bytes.
const (
	minKeyBytes = 16
	maxKeyBytes = 64
	genKeyBytes = 32
)

// ValidateDeviceID returns a 400004 ArgumentInvalid error unless id is a
// valid device id: 1 to 128 ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '.
func ValidateDeviceID(id string) error {
	return validateID("DeviceId", id)
}

// ValidateModuleID is ValidateDeviceID for module ids.
func ValidateModuleID(id string) error {
	return validateID("ModuleId", id)
}

// validateID applies the rule the SDK applies too (internal/ids), with the
// hub's messages.
func validateID(what, id string) error {
	if id == "" {
		return errorf(iothub.CodeArgumentInvalid, "%s is missing", what)
	}
	if len(id) > MaxIDLength {
		return errorf(iothub.CodeArgumentInvalid, "%s is longer than %d characters", what, MaxIDLength)
	}
	if ids.IsDotSegment(id) {
		return errorf(iothub.CodeArgumentInvalid, "%s '%s' is invalid: '.' and '..' name no resource in a request path", what, id)
	}
	for i := 0; i < len(id); i++ {
		if !ids.ValidByte(id[i]) {
			return errorf(iothub.CodeArgumentInvalid, "%s '%s' is invalid: it may only contain ASCII letters, digits and %s", what, id, ids.Specials)
		}
	}
	return nil
}

// Auth is the authentication mechanism of a device or module identity.
type Auth struct {
	// Type is one of AuthSAS, AuthSelfSigned, AuthCertificateAuthority,
	// AuthNone.
	Type string
	// PrimaryKey and SecondaryKey are base64 symmetric keys (type sas).
	PrimaryKey, SecondaryKey string
	// PrimaryThumbprint and SecondaryThumbprint are hex X.509 thumbprints
	// (type selfSigned).
	PrimaryThumbprint, SecondaryThumbprint string
}

// normalizeAuth checks a requested mechanism and fills in what the hub
// fills in: the type when omitted and fresh keys for sas without keys.
// previous is the identity's current mechanism on an update (nil on create);
// an update that names no mechanism, or sas without keys, keeps the current
// one.
func normalizeAuth(req *Auth, previous *Auth) (Auth, error) {
	if req == nil && previous != nil {
		return *previous, nil // an update that names no mechanism keeps it
	}
	var a Auth
	if req != nil {
		a = *req
	}
	a.PrimaryKey = strings.TrimSpace(a.PrimaryKey)
	a.SecondaryKey = strings.TrimSpace(a.SecondaryKey)
	a.PrimaryThumbprint = strings.TrimSpace(a.PrimaryThumbprint)
	a.SecondaryThumbprint = strings.TrimSpace(a.SecondaryThumbprint)
	hasKeys := a.PrimaryKey != "" || a.SecondaryKey != ""
	hasThumbprints := a.PrimaryThumbprint != "" || a.SecondaryThumbprint != ""
	if a.Type == "" {
		if hasThumbprints && !hasKeys {
			a.Type = AuthSelfSigned
		} else {
			a.Type = AuthSAS
		}
	}
	switch a.Type {
	case AuthSAS:
		if hasThumbprints {
			return Auth{}, errorf(iothub.CodeArgumentInvalid, "Authentication type sas does not accept X509 thumbprints")
		}
		if !hasKeys {
			if previous != nil && previous.Type == AuthSAS && previous.PrimaryKey != "" {
				a.PrimaryKey, a.SecondaryKey = previous.PrimaryKey, previous.SecondaryKey
				return a, nil
			}
			var err error
			if a.PrimaryKey, err = NewKey(); err != nil {
				return Auth{}, err
			}
			if a.SecondaryKey, err = NewKey(); err != nil {
				return Auth{}, err
			}
			return a, nil
		}
		if a.PrimaryKey == "" || a.SecondaryKey == "" {
			return Auth{}, errorf(iothub.CodeArgumentInvalid, "Both the primary and the secondary symmetric key must be given, or neither")
		}
		for _, k := range []struct{ name, v string }{{"primary", a.PrimaryKey}, {"secondary", a.SecondaryKey}} {
			b, err := base64.StdEncoding.DecodeString(k.v)
			if err != nil || len(b) < minKeyBytes || len(b) > maxKeyBytes {
				return Auth{}, errorf(iothub.CodeArgumentInvalid, "The %s symmetric key must be base64 and between %d and %d bytes long", k.name, minKeyBytes, maxKeyBytes)
			}
		}
	case AuthSelfSigned:
		if hasKeys {
			return Auth{}, errorf(iothub.CodeArgumentInvalid, "Authentication type selfSigned does not accept symmetric keys")
		}
		if !hasThumbprints {
			return Auth{}, errorf(iothub.CodeArgumentInvalid, "Authentication type selfSigned needs a primary or a secondary X509 thumbprint")
		}
		for _, t := range []struct{ name, v string }{{"primary", a.PrimaryThumbprint}, {"secondary", a.SecondaryThumbprint}} {
			if t.v != "" && !validThumbprint(t.v) {
				return Auth{}, errorf(iothub.CodeArgumentInvalid, "The %s X509 thumbprint must be 40 (SHA-1) or 64 (SHA-256) hexadecimal characters", t.name)
			}
		}
	case AuthCertificateAuthority, AuthNone:
		if hasKeys || hasThumbprints {
			return Auth{}, errorf(iothub.CodeArgumentInvalid, "Authentication type %s accepts neither symmetric keys nor X509 thumbprints", a.Type)
		}
	default:
		return Auth{}, errorf(iothub.CodeArgumentInvalid, "Authentication type '%s' is invalid: use sas, selfSigned, certificateAuthority or none", a.Type)
	}
	return a, nil
}

func validThumbprint(t string) bool {
	if len(t) != 40 && len(t) != 64 {
		return false
	}
	_, err := hex.DecodeString(t)
	return err == nil
}

// NewKey returns a fresh random symmetric key: 32 random bytes in base64.
func NewKey() (string, error) {
	b := make([]byte, genKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", errorf(iothub.CodeServerError, "cannot generate a key: %v", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func validateStatus(s string) (string, error) {
	switch s {
	case "":
		return StatusEnabled, nil
	case StatusEnabled, StatusDisabled:
		return s, nil
	}
	return "", errorf(iothub.CodeArgumentInvalid, "Status '%s' is invalid: use enabled or disabled", s)
}
