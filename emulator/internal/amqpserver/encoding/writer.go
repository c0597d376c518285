package encoding

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"time"
)

// Writer appends AMQP encodings to B. It picks the most compact encoding for
// each value. The zero Writer is ready to use.
type Writer struct {
	B []byte
}

// Null appends a null.
func (w *Writer) Null() { w.B = append(w.B, codeNull) }

// Bool appends a boolean in its one-byte form.
func (w *Writer) Bool(v bool) {
	if v {
		w.B = append(w.B, codeTrue)
	} else {
		w.B = append(w.B, codeFalse)
	}
}

// Ubyte appends a ubyte.
func (w *Writer) Ubyte(v uint8) { w.B = append(w.B, codeUbyte, v) }

// Ushort appends a ushort.
func (w *Writer) Ushort(v uint16) {
	w.B = append(w.B, codeUshort)
	w.B = binary.BigEndian.AppendUint16(w.B, v)
}

// Uint appends a uint.
func (w *Writer) Uint(v uint32) {
	switch {
	case v == 0:
		w.B = append(w.B, codeUint0)
	case v < 256:
		w.B = append(w.B, codeSmallUint, byte(v))
	default:
		w.B = append(w.B, codeUint)
		w.B = binary.BigEndian.AppendUint32(w.B, v)
	}
}

// Ulong appends a ulong.
func (w *Writer) Ulong(v uint64) {
	switch {
	case v == 0:
		w.B = append(w.B, codeUlong0)
	case v < 256:
		w.B = append(w.B, codeSmallUlong, byte(v))
	default:
		w.B = append(w.B, codeUlong)
		w.B = binary.BigEndian.AppendUint64(w.B, v)
	}
}

// Byte appends a byte (signed).
func (w *Writer) Byte(v int8) { w.B = append(w.B, codeByte, byte(v)) }

// Short appends a short.
func (w *Writer) Short(v int16) {
	w.B = append(w.B, codeShort)
	w.B = binary.BigEndian.AppendUint16(w.B, uint16(v))
}

// Int appends an int.
func (w *Writer) Int(v int32) {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		w.B = append(w.B, codeSmallInt, byte(int8(v)))
		return
	}
	w.B = append(w.B, codeInt)
	w.B = binary.BigEndian.AppendUint32(w.B, uint32(v))
}

// Long appends a long.
func (w *Writer) Long(v int64) {
	if v >= math.MinInt8 && v <= math.MaxInt8 {
		w.B = append(w.B, codeSmallLong, byte(int8(v)))
		return
	}
	w.B = append(w.B, codeLong)
	w.B = binary.BigEndian.AppendUint64(w.B, uint64(v))
}

// Float appends a float.
func (w *Writer) Float(v float32) {
	w.B = append(w.B, codeFloat)
	w.B = binary.BigEndian.AppendUint32(w.B, math.Float32bits(v))
}

// Double appends a double.
func (w *Writer) Double(v float64) {
	w.B = append(w.B, codeDouble)
	w.B = binary.BigEndian.AppendUint64(w.B, math.Float64bits(v))
}

// Char appends a char.
func (w *Writer) Char(v Char) {
	w.B = append(w.B, codeChar)
	w.B = binary.BigEndian.AppendUint32(w.B, uint32(v))
}

// Timestamp appends a timestamp with millisecond precision.
func (w *Writer) Timestamp(t time.Time) {
	w.B = append(w.B, codeTimestamp)
	w.B = binary.BigEndian.AppendUint64(w.B, uint64(t.UnixMilli()))
}

// UUID appends a uuid.
func (w *Writer) UUID(u UUID) {
	w.B = append(w.B, codeUUID)
	w.B = append(w.B, u[:]...)
}

func (w *Writer) variable(c8, c32 byte, s string) {
	if len(s) < 256 {
		w.B = append(w.B, c8, byte(len(s)))
	} else {
		w.B = append(w.B, c32)
		w.B = binary.BigEndian.AppendUint32(w.B, uint32(len(s)))
	}
	w.B = append(w.B, s...)
}

// Binary appends a binary value.
func (w *Writer) Binary(b []byte) {
	if len(b) < 256 {
		w.B = append(w.B, codeVbin8, byte(len(b)))
	} else {
		w.B = append(w.B, codeVbin32)
		w.B = binary.BigEndian.AppendUint32(w.B, uint32(len(b)))
	}
	w.B = append(w.B, b...)
}

// String appends a string.
func (w *Writer) String(s string) { w.variable(codeStr8, codeStr32, s) }

// Symbol appends a symbol.
func (w *Writer) Symbol(s Symbol) { w.variable(codeSym8, codeSym32, string(s)) }

// Symbols appends a multiple symbol field: null when empty, else an array.
func (w *Writer) Symbols(s []Symbol) {
	if len(s) == 0 {
		w.Null()
		return
	}
	start := len(w.B)
	w.B = append(w.B, codeArray32, 0, 0, 0, 0, 0, 0, 0, 0, codeSym32)
	for _, v := range s {
		w.B = binary.BigEndian.AppendUint32(w.B, uint32(len(v)))
		w.B = append(w.B, v...)
	}
	binary.BigEndian.PutUint32(w.B[start+1:], uint32(len(w.B)-start-5))
	binary.BigEndian.PutUint32(w.B[start+5:], uint32(len(s)))
}

// Descriptor appends the described-type constructor with a numeric descriptor.
func (w *Writer) Descriptor(code uint64) {
	w.B = append(w.B, codeDescribed)
	w.Ulong(code)
}

// List tracks a list32 being written so trailing nulls can be trimmed.
type List struct {
	w                     *Writer
	start, n, keep, keepN int
}

// StartList begins a list; write its fields with the Writer and call Field
// or Null after each, then End.
func (w *Writer) StartList() List {
	start := len(w.B)
	w.B = append(w.B, codeList32, 0, 0, 0, 0, 0, 0, 0, 0)
	return List{w: w, start: start, keep: len(w.B)}
}

// Field records that a non-null field has just been written.
func (l *List) Field() {
	l.n++
	l.keep, l.keepN = len(l.w.B), l.n
}

// Null writes a null field.
func (l *List) Null() {
	l.w.Null()
	l.n++
}

// End finishes the list, dropping trailing null fields.
func (l *List) End() {
	w := l.w
	w.B = w.B[:l.keep]
	if l.keepN == 0 {
		w.B = append(w.B[:l.start], codeList0)
		return
	}
	binary.BigEndian.PutUint32(w.B[l.start+1:], uint32(len(w.B)-l.start-5))
	binary.BigEndian.PutUint32(w.B[l.start+5:], uint32(l.keepN))
}

// Fields appends a map with symbol keys, sorted for a stable encoding, or null when empty.
func (w *Writer) Fields(m map[Symbol]any) error {
	if len(m) == 0 {
		w.Null()
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	start := w.startMap()
	for _, k := range keys {
		w.Symbol(Symbol(k))
		if err := w.Any(m[Symbol(k)]); err != nil {
			return err
		}
	}
	w.endMap(start, 2*len(keys))
	return nil
}

func (w *Writer) startMap() int {
	start := len(w.B)
	w.B = append(w.B, codeMap32, 0, 0, 0, 0, 0, 0, 0, 0)
	return start
}

func (w *Writer) endMap(start, count int) {
	binary.BigEndian.PutUint32(w.B[start+1:], uint32(len(w.B)-start-5))
	binary.BigEndian.PutUint32(w.B[start+5:], uint32(count))
}

// Marshaler is implemented by types that write their own encoding.
type Marshaler interface {
	MarshalAMQP(w *Writer) error
}

// Any appends v, choosing the AMQP type from its Go type. It accepts the
// types ReadAny produces plus int, uint, map[string]any and map[Symbol]any.
func (w *Writer) Any(v any) error {
	switch v := v.(type) {
	case nil:
		w.Null()
	case bool:
		w.Bool(v)
	case uint8:
		w.Ubyte(v)
	case uint16:
		w.Ushort(v)
	case uint32:
		w.Uint(v)
	case uint64:
		w.Ulong(v)
	case uint:
		w.Ulong(uint64(v))
	case int8:
		w.Byte(v)
	case int16:
		w.Short(v)
	case int32:
		w.Int(v)
	case int64:
		w.Long(v)
	case int:
		w.Long(int64(v))
	case float32:
		w.Float(v)
	case float64:
		w.Double(v)
	case Char:
		w.Char(v)
	case time.Time:
		w.Timestamp(v)
	case UUID:
		w.UUID(v)
	case []byte:
		w.Binary(v)
	case string:
		w.String(v)
	case Symbol:
		w.Symbol(v)
	case []Symbol:
		w.Symbols(v)
	case Decimal32:
		w.B = append(append(w.B, codeDecimal32), v[:]...)
	case Decimal64:
		w.B = append(append(w.B, codeDecimal64), v[:]...)
	case Decimal128:
		w.B = append(append(w.B, codeDecimal128), v[:]...)
	case []any:
		l := w.StartList()
		for _, e := range v {
			if err := w.Any(e); err != nil {
				return err
			}
			l.Field()
		}
		l.End()
	case map[Symbol]any:
		return w.Fields(v)
	case map[string]any:
		start := w.startMap()
		for k, e := range v {
			w.String(k)
			if err := w.Any(e); err != nil {
				return err
			}
		}
		w.endMap(start, 2*len(v))
	case map[any]any:
		start := w.startMap()
		for k, e := range v {
			if err := w.Any(k); err != nil {
				return err
			}
			if err := w.Any(e); err != nil {
				return err
			}
		}
		w.endMap(start, 2*len(v))
	case *Described:
		w.B = append(w.B, codeDescribed)
		if err := w.Any(v.Descriptor); err != nil {
			return err
		}
		return w.Any(v.Value)
	case Marshaler:
		return v.MarshalAMQP(w)
	default:
		return fmt.Errorf("amqp: cannot encode %T", v)
	}
	return nil
}
