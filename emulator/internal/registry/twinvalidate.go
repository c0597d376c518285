package registry

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/iotkit-go/iothub"
)

// Twin limits, from the hub's documentation.
const (
	// MaxTagsSize bounds the size of a twin's tags.
	MaxTagsSize = 8 << 10
	// MaxPropertiesSize bounds the size of the desired and, separately, the
	// reported properties.
	MaxPropertiesSize = 32 << 10
	// MaxKeyLength bounds a property or tag name, in bytes.
	MaxKeyLength = 1 << 10
	// MaxStringValueLength bounds a string value, in bytes.
	MaxStringValueLength = 4 << 10
	// MaxDepth bounds how deep objects nest inside tags, desired or reported.
	MaxDepth = 10
)

// System property names the hub keeps in desired and reported; clients may
// send them back (a twin read, modified and replaced) and they are ignored.
const (
	metadataKey = "$metadata"
	versionKey  = "$version"
)

// TwinPatch is a validated change of a twin's tags and desired properties,
// from the body of PATCH or PUT /twins/{id}.
type TwinPatch struct {
	// Tags is nil when the body does not touch the tags.
	Tags map[string]any
	// Desired is nil when the body does not touch the desired properties.
	Desired map[string]any
}

// ParseTwinPatch reads the tags and desired properties out of a twin JSON
// object (decoded with json.Decoder.UseNumber) and checks the hub's rules
// on them: names without '.', '$', space or control characters, at most 1
// KB long; strings at most 4 KB; depth at most 10. The read-only fields of
// a twin (deviceId, etag, status, version, properties.reported, $metadata,
// $version, …) are ignored, as the hub ignores them, so that a twin that was
// read can be modified and written back.
func ParseTwinPatch(body map[string]any) (TwinPatch, error) {
	var p TwinPatch
	if v, ok := body["tags"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return TwinPatch{}, errorf(iothub.CodeArgumentInvalid, "Twin tags must be a JSON object")
		}
		if err := validateObject("tags", m, 0); err != nil {
			return TwinPatch{}, err
		}
		p.Tags = m
	}
	if v, ok := body["properties"]; ok && v != nil {
		props, ok := v.(map[string]any)
		if !ok {
			return TwinPatch{}, errorf(iothub.CodeArgumentInvalid, "Twin properties must be a JSON object")
		}
		if d, ok := props["desired"]; ok && d != nil {
			m, ok := d.(map[string]any)
			if !ok {
				return TwinPatch{}, errorf(iothub.CodeArgumentInvalid, "Twin desired properties must be a JSON object")
			}
			m = stripSystemKeys(m)
			if err := validateObject("desired properties", m, 0); err != nil {
				return TwinPatch{}, err
			}
			p.Desired = m
		}
	}
	return p, nil
}

// ValidateReported checks a reported properties patch, as a device sends
// it, against the same rules; the system keys are dropped.
func ValidateReported(patch map[string]any) (map[string]any, error) {
	patch = stripSystemKeys(patch)
	if err := validateObject("reported properties", patch, 0); err != nil {
		return nil, err
	}
	return patch, nil
}

func stripSystemKeys(m map[string]any) map[string]any {
	_, hasMeta := m[metadataKey]
	_, hasVersion := m[versionKey]
	if !hasMeta && !hasVersion {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != metadataKey && k != versionKey {
			out[k] = v
		}
	}
	return out
}

func validateObject(section string, m map[string]any, depth int) error {
	for k, v := range m {
		if err := validateKey(section, k); err != nil {
			return err
		}
		if err := validateValue(section, k, v, depth); err != nil {
			return err
		}
	}
	return nil
}

func validateValue(section, key string, v any, depth int) error {
	switch v := v.(type) {
	case map[string]any:
		if depth+1 > MaxDepth {
			return errorf(iothub.CodeArgumentInvalid, "Twin %s nest objects deeper than the maximum depth of %d (at '%s')", section, MaxDepth, key)
		}
		return validateObject(section, v, depth+1)
	case []any:
		for _, e := range v {
			if err := validateValue(section, key, e, depth); err != nil {
				return err
			}
		}
	case string:
		if len(v) > MaxStringValueLength {
			return errorf(iothub.CodeArgumentInvalid, "Property or Tag value should be maximum %d bytes. Error in %s '%s'", MaxStringValueLength, section, key)
		}
	case nil, bool, json.Number, float64, int, int64:
	default:
		return errorf(iothub.CodeArgumentInvalid, "Twin %s hold a value of an unsupported type at '%s'", section, key)
	}
	return nil
}

func validateKey(section, k string) error {
	if k == "" {
		return errorf(iothub.CodeArgumentInvalid, "Twin %s hold an empty name", section)
	}
	if len(k) > MaxKeyLength {
		return errorf(iothub.CodeArgumentInvalid, "Property or Tag name should be maximum %d bytes. Error in %s", MaxKeyLength, section)
	}
	if !utf8.ValidString(k) || strings.ContainsAny(k, ".$ ") || strings.ContainsFunc(k, unicode.IsControl) {
		return errorf(iothub.CodeArgumentInvalid, "Property or Tag name '%s' in %s is invalid: names may not contain '.', '$', space or control characters", printable(k), section)
	}
	return nil
}

// printable keeps control characters out of error messages.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// Size returns the size the hub counts against the twin limits: names and
// strings by characters (control characters excluded), numbers 8 bytes,
// booleans 4, objects and arrays the sum of what they hold.
func Size(v any) int {
	switch v := v.(type) {
	case map[string]any:
		n := 0
		for k, e := range v {
			n += textSize(k) + Size(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += Size(e)
		}
		return n
	case string:
		return textSize(v)
	case bool:
		return 4
	case nil:
		return 0
	default:
		return 8
	}
}

func textSize(s string) int {
	n := 0
	for _, r := range s {
		if !unicode.IsControl(r) {
			n++
		}
	}
	return n
}

func checkSize(section string, m map[string]any, limit int) error {
	if n := Size(m); n > limit {
		return errorf(iothub.CodeArgumentInvalid, "Twin %s size of %d bytes exceeds the maximum of %d bytes", section, n, limit)
	}
	return nil
}
