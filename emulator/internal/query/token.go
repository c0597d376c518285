package query

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// cursor is the state a continuation token carries between pages.
type cursor struct {
	// after is the store key (non-aggregate queries) or the group key
	// (aggregate queries) of the last row returned; the next page starts
	// strictly after it.
	after string
	// returned counts the rows returned so far, so that TOP n holds across
	// pages.
	returned int
}

const (
	tokenVersion = 1
	macSize      = 16
	// maxTokenLength bounds the work spent on a hostile token.
	maxTokenLength = 64 << 10
)

// Token layout, before unpadded base64url encoding:
//
//	version (1 byte) | kind (1 byte) | returned (uvarint) | after (rest) | mac (16 bytes)
//
// mac is the first 16 bytes of HMAC-SHA256(engine secret, query hash ||
// everything before the mac). Binding the query hash makes a token issued for
// another query fail verification exactly like a tampered one.

func (e *Engine) encodeToken(q *Query, c cursor) string {
	buf := make([]byte, 0, 2+binary.MaxVarintLen64+len(c.after)+macSize)
	buf = append(buf, tokenVersion, q.kindByte())
	buf = binary.AppendUvarint(buf, uint64(c.returned))
	buf = append(buf, c.after...)
	buf = append(buf, e.mac(q, buf)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

func (e *Engine) decodeToken(q *Query, tok string) (cursor, error) {
	if len(tok) > maxTokenLength {
		return cursor{}, fmt.Errorf("%w: too long", ErrBadContinuation)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return cursor{}, fmt.Errorf("%w: not base64url", ErrBadContinuation)
	}
	if len(raw) < 3+macSize {
		return cursor{}, fmt.Errorf("%w: truncated", ErrBadContinuation)
	}
	body, sum := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	if !hmac.Equal(sum, e.mac(q, body)) {
		return cursor{}, fmt.Errorf("%w: signature mismatch (tampered, or issued for another query or engine)", ErrBadContinuation)
	}
	if body[0] != tokenVersion || body[1] != q.kindByte() {
		return cursor{}, fmt.Errorf("%w: unsupported version", ErrBadContinuation)
	}
	n, used := binary.Uvarint(body[2:])
	if used <= 0 || n > 1<<31 {
		return cursor{}, fmt.Errorf("%w: malformed", ErrBadContinuation)
	}
	return cursor{returned: int(n), after: string(body[2+used:])}, nil
}

func (e *Engine) mac(q *Query, body []byte) []byte {
	h := hmac.New(sha256.New, e.secret)
	h.Write([]byte("iothub-query-continuation\x00"))
	h.Write(q.hash[:])
	h.Write(body)
	return h.Sum(nil)[:macSize]
}

func (q *Query) kindByte() byte {
	if q.aggregate {
		return 'a'
	}
	return 's'
}
