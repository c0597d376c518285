package checkpoints

import (
	"fmt"
	"strings"
	"unicode"
)

// Kinds of record, as the official checkpoint stores name them in blob names.
const (
	kindOwnership  = "ownership"
	kindCheckpoint = "checkpoint"
)

// scope is one namespace, event hub and consumer group: the set of records
// one List call returns.
type scope struct {
	namespace, eventHub, consumerGroup string
}

// validate checks every name that becomes part of a record's key. Names are
// compared case-insensitively, so they are validated as they will be stored.
func (s scope) validate(op string) error {
	for _, n := range [...]struct{ what, value string }{
		{"namespace", s.namespace},
		{"event hub", s.eventHub},
		{"consumer group", s.consumerGroup},
	} {
		if err := validName(n.what, n.value); err != nil {
			return newError(op, CodeInvalidName, "", err.Error())
		}
	}
	return nil
}

// prefix is the record-name prefix of kind in s, in the official blob layout:
// "<namespace>/<event hub>/<consumer group>/<kind>/", lower-cased.
func (s scope) prefix(kind string) string {
	return strings.ToLower(s.namespace + "/" + s.eventHub + "/" + s.consumerGroup + "/" + kind + "/")
}

// recordName is the name of one record: its scope's prefix and the partition.
func (s scope) recordName(kind, partitionID string) string {
	return s.prefix(kind) + strings.ToLower(partitionID)
}

// validPartition checks a partition ID the way validate checks the scope.
func validPartition(op, partitionID string) error {
	if err := validName("partition ID", partitionID); err != nil {
		return newError(op, CodeInvalidName, "", err.Error())
	}
	return nil
}

// validName rejects what could escape a record's place: in blob names a "/"
// adds a level and "." or ".." are resolved away by URL handling; in file
// names the same, plus "\" on Windows; control characters are rejected by
// some file systems and unreadable in logs.
func validName(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("empty %s", what)
	case v == "." || v == "..":
		return fmt.Errorf("%s %q is a path element", what, v)
	case len(v) > 256:
		return fmt.Errorf("%s longer than 256 bytes", what)
	}
	for _, r := range v {
		if r == '/' || r == '\\' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%s %q holds %q", what, v, r)
		}
	}
	return nil
}

// validOwner checks an owner ID. It travels as blob metadata, an HTTP
// header, so it must be printable ASCII without leading or trailing spaces
// (which HTTP drops); every store applies the rule, so that code tested on
// one store behaves the same on another. Empty means relinquished.
func validOwner(op, ownerID string) error {
	if ownerID != "" && !headerSafe(ownerID) {
		return newError(op, CodeInvalidName, "", fmt.Sprintf("owner ID %q is not printable ASCII without surrounding spaces", ownerID))
	}
	return nil
}

// headerSafe reports whether s survives as an HTTP header value unchanged.
func headerSafe(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' || len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
