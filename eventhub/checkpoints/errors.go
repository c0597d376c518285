package checkpoints

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// ErrorCode says what kind of failure an [*Error] is. The codes are stable
// API; the message text is not.
type ErrorCode string

const (
	// CodeInvalidName: a namespace, event hub, consumer group or partition ID
	// is empty or cannot be stored safely (a "/", "\", control character,
	// "." or ".."), or an owner ID is not printable ASCII. Retrying does not
	// help.
	CodeInvalidName ErrorCode = "InvalidName"
	// CodeInvalidArgument: a constructor got a nil client or an empty
	// directory.
	CodeInvalidArgument ErrorCode = "InvalidArgument"
	// CodeInvalidCheckpoint: a checkpoint has neither an offset nor a
	// sequence number, so nobody could resume from it, or its offset is not
	// printable ASCII (it travels as blob metadata, an HTTP header).
	CodeInvalidCheckpoint ErrorCode = "InvalidCheckpoint"
	// CodeCorruptRecord: a stored record cannot be read (bad JSON in a file,
	// a sequence number that is not a number in blob metadata). Someone
	// other than a checkpoint store wrote it; fix or delete it by hand.
	CodeCorruptRecord ErrorCode = "CorruptRecord"
	// CodeStorage: the file system or the storage service failed (I/O error,
	// permission, network, an unexpected status). Often transient.
	CodeStorage ErrorCode = "StorageFailure"
)

// Sentinels to test an [*Error]'s code with [errors.Is].
var (
	ErrInvalidName       = &Error{Code: CodeInvalidName}
	ErrInvalidArgument   = &Error{Code: CodeInvalidArgument}
	ErrInvalidCheckpoint = &Error{Code: CodeInvalidCheckpoint}
	ErrCorruptRecord     = &Error{Code: CodeCorruptRecord}
	ErrStorage           = &Error{Code: CodeStorage}
)

// Error is the error every store in this package returns. A lost ownership
// race is not an error.
type Error struct {
	// Op is the store method that failed, e.g. "ClaimOwnership".
	Op string
	// Code is the stable kind of failure.
	Code ErrorCode
	// Record names the record concerned, e.g.
	// "ns.servicebus.windows.net/hub/$default/ownership/0"; empty when the
	// failure concerns no single record.
	Record string
	// StatusCode is the storage service's HTTP status for a [BlobStore]
	// failure; zero otherwise.
	StatusCode int
	// StorageCode is the storage service's error code, e.g.
	// "AuthorizationFailure"; empty when there is none.
	StorageCode string

	// msg explains the failure for people; it has passed through redact.
	msg string
	// err is the cause. It is never one whose text holds a secret: request
	// URLs (which carry SAS tokens) are redacted before an error is kept.
	err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("checkpoints: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteByte(' ')
	}
	if e.Record != "" {
		b.WriteString(e.Record)
		b.WriteByte(' ')
	}
	b.WriteString(string(e.Code))
	if e.StatusCode != 0 {
		b.WriteString(" (status ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		if e.StorageCode != "" {
			b.WriteString(", " + e.StorageCode)
		}
		b.WriteByte(')')
	}
	if e.msg != "" {
		b.WriteString(": ")
		b.WriteString(e.msg)
	}
	return b.String()
}

// Unwrap returns the cause: an *fs.PathError, an *azcore.ResponseError, a
// context error… Transport errors, whose text would hold the request URL,
// are replaced by a copy of their text with the URL's query removed. An
// *azcore.ResponseError's text is safe, but its RawResponse still holds the
// request, SAS query included: do not log that.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is the sentinel of e's code, so that
// errors.Is(err, ErrInvalidName) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Record == "" && t.msg == "" && t.err == nil && t.Code == e.Code
}

func newError(op string, code ErrorCode, record, msg string) *Error {
	return &Error{Op: op, Code: code, Record: record, msg: msg}
}

// storageError wraps a failure of the file system or of Blob Storage,
// keeping only what is safe to show.
func storageError(op, record string, err error) *Error {
	e := &Error{Op: op, Code: CodeStorage, Record: record}
	var re *azcore.ResponseError
	switch {
	case errors.As(err, &re):
		// azcore's own text holds the response body; the status and the
		// service's code are what a caller acts on.
		e.StatusCode, e.StorageCode = re.StatusCode, re.ErrorCode
		e.err = re
	default:
		e.msg = redact(err.Error())
		e.err = &redactedError{msg: e.msg, cause: err}
	}
	return e
}

// redactedError stands for a cause whose text held a URL. errors.Is still
// sees the original (context.Canceled, os.ErrDeadlineExceeded…), but
// errors.As cannot reach it, so its URL cannot be printed by accident.
type redactedError struct {
	msg   string
	cause error
}

func (r *redactedError) Error() string        { return r.msg }
func (r *redactedError) Is(target error) bool { return errors.Is(r.cause, target) }

var (
	// urlQuery matches the query of a URL in an error text: SAS tokens
	// (sig=…) travel there.
	urlQuery = regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.-]*://[^\s"'?]*)\?[^\s"']*`)
	// sasSignature catches a signature outside a URL, e.g. in a quoted
	// query fragment.
	sasSignature = regexp.MustCompile(`(?i)\b(sig|signature|accountkey|sharedaccesskey)=[^&\s"';]*`)
)

// redact removes URL queries and anything that looks like a signature or key
// from s.
func redact(s string) string {
	s = urlQuery.ReplaceAllString(s, "$1?REDACTED")
	return sasSignature.ReplaceAllString(s, "$1=REDACTED")
}
