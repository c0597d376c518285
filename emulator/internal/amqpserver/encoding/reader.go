package encoding

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// MaxDepth bounds the nesting of compound and described values a Reader accepts.
const MaxDepth = 32

// ErrDecode is wrapped by every decoding error, so callers can answer with
// amqp:decode-error whatever the detail.
var ErrDecode = errors.New("amqp decode error")

func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
}

var errShort = fmt.Errorf("%w: value runs past the end of its buffer", ErrDecode)

// Reader decodes AMQP values from a byte slice. Values of type binary are
// copied by ReadAny and aliased by ReadBinary; strings are always copied.
type Reader struct {
	b     []byte
	off   int
	depth int
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Reset points r at b.
func (r *Reader) Reset(b []byte) { r.b, r.off, r.depth = b, 0, 0 }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Rest returns the unread bytes without consuming them.
func (r *Reader) Rest() []byte { return r.b[r.off:] }

func (r *Reader) next(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, errShort
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

func (r *Reader) byte1() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *Reader) u16() (uint16, error) {
	s, err := r.next(2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(s), nil
}

func (r *Reader) u32() (uint32, error) {
	s, err := r.next(4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(s), nil
}

func (r *Reader) u64() (uint64, error) {
	s, err := r.next(8)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(s), nil
}

// PeekCode returns the next constructor byte without consuming it.
func (r *Reader) PeekCode() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	return r.b[r.off], nil
}

// IsNull consumes a null if one is next and reports whether it did.
func (r *Reader) IsNull() bool {
	if r.off < len(r.b) && r.b[r.off] == codeNull {
		r.off++
		return true
	}
	return false
}

// ReadBool reads a boolean in any of its three encodings. ok is false for null.
func (r *Reader) ReadBool() (v, ok bool, err error) {
	c, err := r.byte1()
	if err != nil {
		return false, false, err
	}
	switch c {
	case codeNull:
		return false, false, nil
	case codeTrue:
		return true, true, nil
	case codeFalse:
		return false, true, nil
	case codeBool:
		b, err := r.byte1()
		if err != nil {
			return false, false, err
		}
		if b > 1 {
			return false, false, decodeErr("boolean byte %#x", b)
		}
		return b == 1, true, nil
	}
	return false, false, decodeErr("type %#02x is not a boolean", c)
}

// readUnsigned reads any unsigned integer encoding as a uint64.
func (r *Reader) readUnsigned(c byte) (uint64, error) {
	switch c {
	case codeUint0, codeUlong0:
		return 0, nil
	case codeSmallUint, codeSmallUlong, codeUbyte:
		b, err := r.byte1()
		return uint64(b), err
	case codeUshort:
		v, err := r.u16()
		return uint64(v), err
	case codeUint:
		v, err := r.u32()
		return uint64(v), err
	case codeUlong:
		return r.u64()
	}
	return 0, decodeErr("type %#02x is not an unsigned integer", c)
}

// ReadUint64 reads a ulong (or a narrower unsigned integer). ok is false for null.
func (r *Reader) ReadUint64() (v uint64, ok bool, err error) {
	c, err := r.byte1()
	if err != nil || c == codeNull {
		return 0, false, err
	}
	v, err = r.readUnsigned(c)
	return v, err == nil, err
}

// ReadUint32 reads a uint (or ubyte/ushort). ok is false for null.
func (r *Reader) ReadUint32() (v uint32, ok bool, err error) {
	c, err := r.byte1()
	if err != nil || c == codeNull {
		return 0, false, err
	}
	u, err := r.readUnsigned(c)
	if err != nil {
		return 0, false, err
	}
	if u > math.MaxUint32 {
		return 0, false, decodeErr("value %d overflows uint", u)
	}
	return uint32(u), true, nil
}

// ReadUint16 reads a ushort (or ubyte). ok is false for null.
func (r *Reader) ReadUint16() (v uint16, ok bool, err error) {
	u, ok, err := r.ReadUint32()
	if err != nil || !ok {
		return 0, ok, err
	}
	if u > math.MaxUint16 {
		return 0, false, decodeErr("value %d overflows ushort", u)
	}
	return uint16(u), true, nil
}

// ReadUint8 reads a ubyte. ok is false for null.
func (r *Reader) ReadUint8() (v uint8, ok bool, err error) {
	u, ok, err := r.ReadUint32()
	if err != nil || !ok {
		return 0, ok, err
	}
	if u > math.MaxUint8 {
		return 0, false, decodeErr("value %d overflows ubyte", u)
	}
	return uint8(u), true, nil
}

// readVarLen reads the length prefix of a variable-width value.
func (r *Reader) readVarLen(c byte) (int, error) {
	switch c {
	case codeVbin8, codeStr8, codeSym8:
		b, err := r.byte1()
		return int(b), err
	case codeVbin32, codeStr32, codeSym32:
		n, err := r.u32()
		if err != nil {
			return 0, err
		}
		if uint64(n) > uint64(r.Len()) {
			return 0, errShort
		}
		return int(n), nil
	}
	return 0, decodeErr("type %#02x is not variable width", c)
}

// ReadBinary reads a binary value. The result aliases the Reader's buffer.
// ok is false for null.
func (r *Reader) ReadBinary() (v []byte, ok bool, err error) {
	c, err := r.byte1()
	if err != nil || c == codeNull {
		return nil, false, err
	}
	if c != codeVbin8 && c != codeVbin32 {
		return nil, false, decodeErr("type %#02x is not binary", c)
	}
	n, err := r.readVarLen(c)
	if err != nil {
		return nil, false, err
	}
	v, err = r.next(n)
	return v, err == nil, err
}

// ReadString reads a string; a symbol is accepted too. ok is false for null.
func (r *Reader) ReadString() (v string, ok bool, err error) {
	c, err := r.byte1()
	if err != nil || c == codeNull {
		return "", false, err
	}
	switch c {
	case codeStr8, codeStr32, codeSym8, codeSym32:
	default:
		return "", false, decodeErr("type %#02x is not a string", c)
	}
	n, err := r.readVarLen(c)
	if err != nil {
		return "", false, err
	}
	s, err := r.next(n)
	return string(s), err == nil, err
}

// ReadSymbol reads a symbol; a string is accepted too. ok is false for null.
func (r *Reader) ReadSymbol() (v Symbol, ok bool, err error) {
	s, ok, err := r.ReadString()
	return Symbol(s), ok, err
}

// ReadSymbols reads a field declared multiple="true" of symbols: null, one
// symbol, or an array of symbols.
func (r *Reader) ReadSymbols() ([]Symbol, error) {
	c, err := r.PeekCode()
	if err != nil {
		return nil, err
	}
	switch c {
	case codeNull:
		r.off++
		return nil, nil
	case codeSym8, codeSym32, codeStr8, codeStr32:
		s, _, err := r.ReadSymbol()
		return []Symbol{s}, err
	case codeArray8, codeArray32:
		v, err := r.ReadAny()
		if err != nil {
			return nil, err
		}
		switch a := v.(type) {
		case []Symbol:
			return a, nil
		case []string:
			out := make([]Symbol, len(a))
			for i, s := range a {
				out[i] = Symbol(s)
			}
			return out, nil
		case Array:
			if len(a) == 0 {
				return nil, nil
			}
		}
		return nil, decodeErr("array of %T where symbols were expected", v)
	}
	return nil, decodeErr("type %#02x where symbols were expected", c)
}

// ReadFields reads an AMQP fields map (symbol keys; string keys tolerated).
func (r *Reader) ReadFields() (map[Symbol]any, error) {
	if r.IsNull() {
		return nil, nil
	}
	v, err := r.ReadAny()
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[any]any)
	if !ok {
		return nil, decodeErr("%T where a map was expected", v)
	}
	out := make(map[Symbol]any, len(m))
	for k, val := range m {
		switch k := k.(type) {
		case Symbol:
			out[k] = val
		case string:
			out[Symbol(k)] = val
		default:
			return nil, decodeErr("map key %T where a symbol was expected", k)
		}
	}
	return out, nil
}

// ReadDescriptor reads the 0x00 constructor and a descriptor, returning it as
// a numeric code. Symbolic descriptors of known types are mapped to their code.
func (r *Reader) ReadDescriptor() (uint64, error) {
	c, err := r.byte1()
	if err != nil {
		return 0, err
	}
	if c != codeDescribed {
		return 0, decodeErr("type %#02x where a described type was expected", c)
	}
	c, err = r.byte1()
	if err != nil {
		return 0, err
	}
	switch c {
	case codeSym8, codeSym32:
		r.off--
		s, _, err := r.ReadSymbol()
		if err != nil {
			return 0, err
		}
		code, ok := descriptorNames[s]
		if !ok {
			return 0, decodeErr("unknown descriptor %q", s)
		}
		return code, nil
	}
	return r.readUnsigned(c)
}

// ReadListHeader reads a list constructor and returns its element count and
// the offset where the list must end. A null reads as an empty list.
func (r *Reader) ReadListHeader() (count, end int, err error) {
	c, err := r.byte1()
	if err != nil {
		return 0, 0, err
	}
	switch c {
	case codeNull, codeList0:
		return 0, r.off, nil
	case codeList8, codeList32:
		return r.compoundHeader(c == codeList32)
	}
	return 0, 0, decodeErr("type %#02x where a list was expected", c)
}

// compoundHeader reads size and count of a list, map or array and checks that
// both fit in what remains: count can never exceed the bytes that carry it.
func (r *Reader) compoundHeader(wide bool) (count, end int, err error) {
	var size, n uint32
	if wide {
		if size, err = r.u32(); err != nil {
			return 0, 0, err
		}
		if size < 4 || uint64(size) > uint64(r.Len()) {
			return 0, 0, decodeErr("compound size %d with %d bytes left", size, r.Len())
		}
		if n, err = r.u32(); err != nil {
			return 0, 0, err
		}
		size -= 4
	} else {
		s, err := r.byte1()
		if err != nil {
			return 0, 0, err
		}
		if s < 1 || int(s) > r.Len() {
			return 0, 0, decodeErr("compound size %d with %d bytes left", s, r.Len())
		}
		b, _ := r.byte1()
		size, n = uint32(s)-1, uint32(b)
	}
	if n > size {
		return 0, 0, decodeErr("compound count %d exceeds its %d bytes", n, size)
	}
	return int(n), r.off + int(size), nil
}

// CheckEnd verifies a compound value ended where its size said it would.
func (r *Reader) CheckEnd(end int) error {
	if r.off != end {
		return decodeErr("compound value ends at %d, size says %d", r.off, end)
	}
	return nil
}
