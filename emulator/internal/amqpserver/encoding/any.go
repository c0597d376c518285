package encoding

import (
	"math"
	"time"
)

// ReadAny decodes the next value into a Go value: nil, bool, uint8, uint16,
// uint32, uint64, int8, int16, int32, int64, float32, float64, Char,
// time.Time, UUID, []byte (copied), string, Symbol, Decimal32/64/128,
// []any (list), map[any]any (map), []Symbol, []string or Array (array),
// a known delivery state or *Error, or *Described.
func (r *Reader) ReadAny() (any, error) {
	c, err := r.byte1()
	if err != nil {
		return nil, err
	}
	return r.readValue(c)
}

func (r *Reader) enter() error {
	r.depth++
	if r.depth > MaxDepth {
		return decodeErr("values nested deeper than %d", MaxDepth)
	}
	return nil
}

func (r *Reader) readValue(c byte) (any, error) {
	switch c {
	case codeNull:
		return nil, nil
	case codeTrue:
		return true, nil
	case codeFalse:
		return false, nil
	case codeBool:
		b, err := r.byte1()
		if err == nil && b > 1 {
			err = decodeErr("boolean byte %#x", b)
		}
		return b == 1, err
	case codeUbyte:
		return r.byte1()
	case codeUshort:
		return r.u16()
	case codeUint0:
		return uint32(0), nil
	case codeSmallUint:
		b, err := r.byte1()
		return uint32(b), err
	case codeUint:
		return r.u32()
	case codeUlong0:
		return uint64(0), nil
	case codeSmallUlong:
		b, err := r.byte1()
		return uint64(b), err
	case codeUlong:
		return r.u64()
	case codeByte:
		b, err := r.byte1()
		return int8(b), err
	case codeShort:
		v, err := r.u16()
		return int16(v), err
	case codeSmallInt:
		b, err := r.byte1()
		return int32(int8(b)), err
	case codeInt:
		v, err := r.u32()
		return int32(v), err
	case codeSmallLong:
		b, err := r.byte1()
		return int64(int8(b)), err
	case codeLong:
		v, err := r.u64()
		return int64(v), err
	case codeFloat:
		v, err := r.u32()
		return math.Float32frombits(v), err
	case codeDouble:
		v, err := r.u64()
		return math.Float64frombits(v), err
	case codeDecimal32:
		var d Decimal32
		s, err := r.next(4)
		copy(d[:], s)
		return d, err
	case codeDecimal64:
		var d Decimal64
		s, err := r.next(8)
		copy(d[:], s)
		return d, err
	case codeDecimal128:
		var d Decimal128
		s, err := r.next(16)
		copy(d[:], s)
		return d, err
	case codeChar:
		v, err := r.u32()
		return Char(v), err
	case codeTimestamp:
		v, err := r.u64()
		return time.UnixMilli(int64(v)).UTC(), err
	case codeUUID:
		var u UUID
		s, err := r.next(16)
		copy(u[:], s)
		return u, err
	case codeVbin8, codeVbin32:
		n, err := r.readVarLen(c)
		if err != nil {
			return nil, err
		}
		s, err := r.next(n)
		if err != nil {
			return nil, err
		}
		return append([]byte{}, s...), nil
	case codeStr8, codeStr32, codeSym8, codeSym32:
		n, err := r.readVarLen(c)
		if err != nil {
			return nil, err
		}
		s, err := r.next(n)
		if err != nil {
			return nil, err
		}
		if c == codeSym8 || c == codeSym32 {
			return Symbol(s), nil
		}
		return string(s), nil
	case codeList0:
		return []any{}, nil
	case codeList8, codeList32:
		return r.readList(c == codeList32)
	case codeMap8, codeMap32:
		return r.readMap(c == codeMap32)
	case codeArray8, codeArray32:
		return r.readArray(c == codeArray32)
	case codeDescribed:
		return r.readDescribed()
	}
	return nil, decodeErr("unknown type code %#02x", c)
}

func (r *Reader) readList(wide bool) (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer func() { r.depth-- }()
	n, end, err := r.compoundHeader(wide)
	if err != nil {
		return nil, err
	}
	l := make([]any, n)
	for i := range l {
		if l[i], err = r.ReadAny(); err != nil {
			return nil, err
		}
	}
	return l, r.CheckEnd(end)
}

func (r *Reader) readMap(wide bool) (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer func() { r.depth-- }()
	n, end, err := r.compoundHeader(wide)
	if err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, decodeErr("map with odd element count %d", n)
	}
	m := make(map[any]any, n/2)
	for i := 0; i < n; i += 2 {
		k, err := r.ReadAny()
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case []byte, []any, map[any]any, Array, []Symbol, []string:
			return nil, decodeErr("map key of type %T is not supported", k)
		}
		v, err := r.ReadAny()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, r.CheckEnd(end)
}

func (r *Reader) readArray(wide bool) (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer func() { r.depth-- }()
	n, end, err := r.compoundHeader(wide)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		// The constructor still follows; skip to the end.
		r.off = end
		return Array{}, nil
	}
	c, err := r.byte1()
	if err != nil {
		return nil, err
	}
	var descriptor any
	if c == codeDescribed {
		if descriptor, err = r.ReadAny(); err != nil {
			return nil, err
		}
		if c, err = r.byte1(); err != nil {
			return nil, err
		}
	}
	switch {
	case descriptor == nil && (c == codeSym8 || c == codeSym32):
		out := make([]Symbol, n)
		for i := range out {
			v, err := r.readValue(c)
			if err != nil {
				return nil, err
			}
			out[i] = v.(Symbol)
		}
		return out, r.CheckEnd(end)
	case descriptor == nil && (c == codeStr8 || c == codeStr32):
		out := make([]string, n)
		for i := range out {
			v, err := r.readValue(c)
			if err != nil {
				return nil, err
			}
			out[i] = v.(string)
		}
		return out, r.CheckEnd(end)
	}
	out := make(Array, n)
	for i := range out {
		v, err := r.readValue(c)
		if err != nil {
			return nil, err
		}
		if descriptor != nil {
			v = &Described{Descriptor: descriptor, Value: v}
		}
		out[i] = v
	}
	return out, r.CheckEnd(end)
}

func (r *Reader) readDescribed() (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer func() { r.depth-- }()
	start := r.off - 1
	d, err := r.ReadAny()
	if err != nil {
		return nil, err
	}
	code, isCode := d.(uint64)
	if s, ok := d.(Symbol); ok {
		code, isCode = descriptorNames[s]
	}
	if isCode {
		switch code {
		case CodeError, CodeAccepted, CodeRejected, CodeReleased, CodeModified, CodeReceived:
			r.off = start
			return r.readKnownDescribed(code)
		}
	}
	v, err := r.ReadAny()
	if err != nil {
		return nil, err
	}
	return &Described{Descriptor: d, Value: v}, nil
}

// Skip consumes the next value without decoding it.
func (r *Reader) Skip() error {
	if err := r.enter(); err != nil {
		return err
	}
	defer func() { r.depth-- }()
	c, err := r.byte1()
	if err != nil {
		return err
	}
	var n int
	switch c {
	case codeNull, codeTrue, codeFalse, codeUint0, codeUlong0, codeList0:
		return nil
	case codeBool, codeUbyte, codeSmallUint, codeSmallUlong, codeByte, codeSmallInt, codeSmallLong:
		n = 1
	case codeUshort, codeShort:
		n = 2
	case codeUint, codeInt, codeFloat, codeChar, codeDecimal32:
		n = 4
	case codeUlong, codeLong, codeDouble, codeTimestamp, codeDecimal64:
		n = 8
	case codeUUID, codeDecimal128:
		n = 16
	case codeVbin8, codeVbin32, codeStr8, codeStr32, codeSym8, codeSym32:
		if n, err = r.readVarLen(c); err != nil {
			return err
		}
	case codeList8, codeMap8, codeArray8, codeList32, codeMap32, codeArray32:
		wide := c&0xf0 == 0xd0 || c == codeArray32
		_, end, err := r.compoundHeader(wide)
		if err != nil {
			return err
		}
		r.off = end
		return nil
	case codeDescribed:
		if err := r.Skip(); err != nil {
			return err
		}
		return r.Skip()
	default:
		return decodeErr("unknown type code %#02x", c)
	}
	_, err = r.next(n)
	return err
}
