package encoding

import (
	"encoding/binary"
	"fmt"
)

// Frame types and sizes (part 2, section 2.3).
const (
	FrameTypeAMQP uint8 = 0
	FrameTypeSASL uint8 = 1

	// HeaderSize is the size of the fixed frame header and of a protocol header.
	HeaderSize = 8
	// MinMaxFrameSize is the largest frame size a peer must accept before open.
	MinMaxFrameSize = 512
)

// Protocol ids in the 8-byte protocol header "AMQP" id major minor revision.
const (
	ProtoAMQP uint8 = 0
	ProtoTLS  uint8 = 2
	ProtoSASL uint8 = 3
)

// ProtocolHeader returns the 8-byte header for protocol id.
func ProtocolHeader(id uint8) [8]byte {
	return [8]byte{'A', 'M', 'Q', 'P', id, 1, 0, 0}
}

// ParseProtocolHeader returns the protocol id of an 8-byte header, or an
// error when it is not "AMQP" followed by a version this package speaks (1.0.0).
func ParseProtocolHeader(b []byte) (uint8, error) {
	if len(b) < HeaderSize || string(b[:4]) != "AMQP" {
		return 0, decodeErr("not an AMQP protocol header: %q", b)
	}
	if b[5] != 1 || b[6] != 0 || b[7] != 0 {
		return b[4], decodeErr("unsupported AMQP version %d.%d.%d", b[5], b[6], b[7])
	}
	return b[4], nil
}

// FrameHeader is the fixed part of a frame.
type FrameHeader struct {
	Size       uint32
	DataOffset uint8
	Type       uint8
	Channel    uint16
}

// ParseFrameHeader decodes and validates the first 8 bytes of a frame.
func ParseFrameHeader(b []byte) (FrameHeader, error) {
	if len(b) < HeaderSize {
		return FrameHeader{}, errShort
	}
	h := FrameHeader{
		Size:       binary.BigEndian.Uint32(b),
		DataOffset: b[4],
		Type:       b[5],
		Channel:    binary.BigEndian.Uint16(b[6:]),
	}
	if h.Size < HeaderSize {
		return h, decodeErr("frame size %d is smaller than its header", h.Size)
	}
	if h.DataOffset < 2 || uint32(h.DataOffset)*4 > h.Size {
		return h, decodeErr("frame data offset %d is invalid for size %d", h.DataOffset, h.Size)
	}
	return h, nil
}

// Performative is a frame body this package can encode.
type Performative interface {
	Marshal(w *Writer) error
}

// DecodeBody decodes the body of a frame of type typ (the bytes after the
// extended header). An empty body is a heartbeat and decodes as nil. A
// transfer's payload aliases body.
func DecodeBody(typ uint8, body []byte) (Performative, error) {
	if len(body) == 0 {
		return nil, nil
	}
	r := Reader{b: body}
	code, err := r.ReadDescriptor()
	if err != nil {
		return nil, err
	}
	if (typ == FrameTypeSASL) != (code >= CodeSASLMechanisms && code <= CodeSASLOutcome) {
		return nil, decodeErr("descriptor %#x in a frame of type %d", code, typ)
	}
	n, end, err := r.ReadListHeader()
	if err != nil {
		return nil, err
	}
	var p Performative
	switch code {
	case CodeTransfer:
		t := &Transfer{}
		err, p = t.decode(&r, n), t
		if err == nil {
			if err = r.CheckEnd(end); err == nil {
				t.Payload = r.Rest()
			}
		}
		return p, err
	case CodeOpen:
		v := &Open{}
		err, p = v.decode(&r, n), v
	case CodeBegin:
		v := &Begin{}
		err, p = v.decode(&r, n), v
	case CodeAttach:
		v := &Attach{}
		err, p = v.decode(&r, n), v
	case CodeFlow:
		v := &Flow{}
		err, p = v.decode(&r, n), v
	case CodeDisposition:
		v := &Disposition{}
		err, p = v.decode(&r, n), v
	case CodeDetach:
		v := &Detach{}
		err, p = v.decode(&r, n), v
	case CodeEnd:
		v := &End{}
		v.Error, err = readErrorOnly(&r, n)
		p = v
	case CodeClose:
		v := &Close{}
		v.Error, err = readErrorOnly(&r, n)
		p = v
	case CodeSASLMechanisms:
		v := &SASLMechanisms{}
		err, p = v.decode(&r, n), v
	case CodeSASLInit:
		v := &SASLInit{}
		err, p = v.decode(&r, n), v
	case CodeSASLChallenge:
		v := &SASLChallenge{}
		v.Challenge, err = readBinaryOnly(&r, n)
		p = v
	case CodeSASLResponse:
		v := &SASLResponse{}
		v.Response, err = readBinaryOnly(&r, n)
		p = v
	case CodeSASLOutcome:
		v := &SASLOutcome{}
		err, p = v.decode(&r, n), v
	default:
		return nil, decodeErr("unknown performative %#x", code)
	}
	if err != nil {
		return nil, err
	}
	if err := r.CheckEnd(end); err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, decodeErr("%d bytes after the performative", r.Len())
	}
	return p, nil
}

// ParseFrame decodes one whole frame from the start of b, refusing frames
// larger than maxFrameSize. It returns the header, the performative (nil for
// a heartbeat) and the bytes after the frame.
func ParseFrame(b []byte, maxFrameSize uint32) (FrameHeader, Performative, []byte, error) {
	h, err := ParseFrameHeader(b)
	if err != nil {
		return h, nil, nil, err
	}
	if h.Size > maxFrameSize {
		return h, nil, nil, fmt.Errorf("%w: frame size %d exceeds the maximum %d", ErrDecode, h.Size, maxFrameSize)
	}
	if uint64(h.Size) > uint64(len(b)) {
		return h, nil, nil, errShort
	}
	p, err := DecodeBody(h.Type, b[int(h.DataOffset)*4:h.Size])
	return h, p, b[h.Size:], err
}

// AppendFrame appends a frame carrying p (nil for a heartbeat) and payload to w.
func AppendFrame(w *Writer, typ uint8, channel uint16, p Performative, payload []byte) error {
	start := len(w.B)
	w.B = append(w.B, 0, 0, 0, 0, 2, typ, byte(channel>>8), byte(channel))
	if p != nil {
		if err := p.Marshal(w); err != nil {
			w.B = w.B[:start]
			return err
		}
	}
	w.B = append(w.B, payload...)
	binary.BigEndian.PutUint32(w.B[start:], uint32(len(w.B)-start))
	return nil
}
