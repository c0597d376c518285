package encoding

import (
	"encoding/hex"
	"fmt"
)

// Type codes of the AMQP 1.0 primitive encodings (part 1, section 1.6).
const (
	codeDescribed  = 0x00
	codeNull       = 0x40
	codeBool       = 0x56
	codeTrue       = 0x41
	codeFalse      = 0x42
	codeUbyte      = 0x50
	codeUshort     = 0x60
	codeUint       = 0x70
	codeSmallUint  = 0x52
	codeUint0      = 0x43
	codeUlong      = 0x80
	codeSmallUlong = 0x53
	codeUlong0     = 0x44
	codeByte       = 0x51
	codeShort      = 0x61
	codeInt        = 0x71
	codeSmallInt   = 0x54
	codeLong       = 0x81
	codeSmallLong  = 0x55
	codeFloat      = 0x72
	codeDouble     = 0x82
	codeDecimal32  = 0x74
	codeDecimal64  = 0x84
	codeDecimal128 = 0x94
	codeChar       = 0x73
	codeTimestamp  = 0x83
	codeUUID       = 0x98
	codeVbin8      = 0xa0
	codeVbin32     = 0xb0
	codeStr8       = 0xa1
	codeStr32      = 0xb1
	codeSym8       = 0xa3
	codeSym32      = 0xb3
	codeList0      = 0x45
	codeList8      = 0xc0
	codeList32     = 0xd0
	codeMap8       = 0xc1
	codeMap32      = 0xd1
	codeArray8     = 0xe0
	codeArray32    = 0xf0
)

// Symbol is an AMQP symbol: an ASCII name such as "amqp:not-found".
type Symbol string

// Char is an AMQP char: one UTF-32 code point.
type Char rune

// UUID is an AMQP uuid (RFC 4122 bytes).
type UUID [16]byte

// String formats the UUID in the canonical 8-4-4-4-12 form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Decimal32 is an IEEE 754 decimal32 value, kept as its raw bytes.
type Decimal32 [4]byte

// Decimal64 is an IEEE 754 decimal64 value, kept as its raw bytes.
type Decimal64 [8]byte

// Decimal128 is an IEEE 754 decimal128 value, kept as its raw bytes.
type Decimal128 [16]byte

// Described is a described value whose descriptor is not one this package
// decodes into a struct (filters, for instance). Descriptor is a uint64 code
// or a Symbol name.
type Described struct {
	Descriptor any
	Value      any
}

// String implements fmt.Stringer for logs.
func (d *Described) String() string {
	return fmt.Sprintf("%v:%v", d.Descriptor, d.Value)
}

// DescriptorIs reports whether d's descriptor is either the given code or the given name.
func (d *Described) DescriptorIs(code uint64, name Symbol) bool {
	switch v := d.Descriptor.(type) {
	case uint64:
		return v == code
	case Symbol:
		return v == name
	}
	return false
}

// Array is a decoded AMQP array whose elements share one constructor.
// Elements hold decoded values; arrays of symbols decode as []Symbol instead.
type Array []any
