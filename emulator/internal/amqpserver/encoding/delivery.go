package encoding

// DeliveryState is one of *StateReceived, *StateAccepted, *StateRejected,
// *StateReleased or *StateModified.
type DeliveryState interface {
	Marshaler
	deliveryState()
}

// StateReceived is the received delivery state.
type StateReceived struct {
	SectionNumber uint32
	SectionOffset uint64
}

// StateAccepted is the accepted outcome.
type StateAccepted struct{}

// StateRejected is the rejected outcome.
type StateRejected struct{ Error *Error }

// StateReleased is the released outcome.
type StateReleased struct{}

// StateModified is the modified outcome.
type StateModified struct {
	DeliveryFailed    bool
	UndeliverableHere bool
	Annotations       map[Symbol]any
}

func (*StateReceived) deliveryState() {}
func (*StateAccepted) deliveryState() {}
func (*StateRejected) deliveryState() {}
func (*StateReleased) deliveryState() {}
func (*StateModified) deliveryState() {}

// MarshalAMQP writes s.
func (s *StateReceived) MarshalAMQP(w *Writer) error {
	w.Descriptor(CodeReceived)
	l := w.StartList()
	w.Uint(s.SectionNumber)
	l.Field()
	w.Ulong(s.SectionOffset)
	l.Field()
	l.End()
	return nil
}

// MarshalAMQP writes s.
func (s *StateAccepted) MarshalAMQP(w *Writer) error {
	w.B = append(w.B, codeDescribed, codeSmallUlong, CodeAccepted, codeList0)
	return nil
}

// MarshalAMQP writes s.
func (s *StateReleased) MarshalAMQP(w *Writer) error {
	w.B = append(w.B, codeDescribed, codeSmallUlong, CodeReleased, codeList0)
	return nil
}

// MarshalAMQP writes s.
func (s *StateRejected) MarshalAMQP(w *Writer) error {
	w.Descriptor(CodeRejected)
	l := w.StartList()
	err := writeError(w, &l, s.Error)
	l.End()
	return err
}

// MarshalAMQP writes s.
func (s *StateModified) MarshalAMQP(w *Writer) error {
	w.Descriptor(CodeModified)
	l := w.StartList()
	w.Bool(s.DeliveryFailed)
	l.Field()
	w.Bool(s.UndeliverableHere)
	l.Field()
	err := optFields(w, &l, s.Annotations)
	l.End()
	return err
}

// ReadDeliveryState reads a delivery state or a null (nil, nil).
func (r *Reader) ReadDeliveryState() (DeliveryState, error) {
	if r.IsNull() {
		return nil, nil
	}
	code, err := r.ReadDescriptor()
	if err != nil {
		return nil, err
	}
	n, end, err := r.ReadListHeader()
	if err != nil {
		return nil, err
	}
	var st DeliveryState
	switch code {
	case CodeReceived:
		s := &StateReceived{}
		for i := 0; i < n && err == nil; i++ {
			switch i {
			case 0:
				s.SectionNumber, _, err = r.ReadUint32()
			case 1:
				s.SectionOffset, _, err = r.ReadUint64()
			default:
				err = r.Skip()
			}
		}
		st = s
	case CodeAccepted, CodeReleased:
		for i := 0; i < n && err == nil; i++ {
			err = r.Skip()
		}
		if code == CodeAccepted {
			st = &StateAccepted{}
		} else {
			st = &StateReleased{}
		}
	case CodeRejected:
		s := &StateRejected{}
		for i := 0; i < n && err == nil; i++ {
			if i == 0 {
				s.Error, err = r.ReadError()
			} else {
				err = r.Skip()
			}
		}
		st = s
	case CodeModified:
		s := &StateModified{}
		for i := 0; i < n && err == nil; i++ {
			switch i {
			case 0:
				s.DeliveryFailed, _, err = r.ReadBool()
			case 1:
				s.UndeliverableHere, _, err = r.ReadBool()
			case 2:
				s.Annotations, err = r.readAnnotations()
			default:
				err = r.Skip()
			}
		}
		st = s
	default:
		return nil, decodeErr("descriptor %#x is not a delivery state", code)
	}
	if err != nil {
		return nil, err
	}
	return st, r.CheckEnd(end)
}

// readAnnotations reads an annotations map, keeping the symbol and string keys.
func (r *Reader) readAnnotations() (map[Symbol]any, error) {
	v, err := r.ReadAny()
	if err != nil || v == nil {
		return nil, err
	}
	m, ok := v.(map[any]any)
	if !ok {
		return nil, decodeErr("%T where annotations were expected", v)
	}
	out := make(map[Symbol]any, len(m))
	for k, val := range m {
		switch k := k.(type) {
		case Symbol:
			out[k] = val
		case string:
			out[Symbol(k)] = val
		}
	}
	return out, nil
}

// Transfer is the transfer performative. Payload aliases the frame it was
// decoded from.
type Transfer struct {
	Handle           uint32
	DeliveryID       uint32
	HasDeliveryID    bool
	DeliveryTag      []byte
	MessageFormat    uint32
	Settled          bool
	HasSettled       bool
	More             bool
	RcvSettleMode    uint8
	HasRcvSettleMode bool
	State            DeliveryState
	Resume           bool
	Aborted          bool
	Batchable        bool
	Payload          []byte
}

func (t *Transfer) decode(r *Reader, n int) (err error) {
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			t.Handle, _, err = r.ReadUint32()
		case 1:
			t.DeliveryID, t.HasDeliveryID, err = r.ReadUint32()
		case 2:
			t.DeliveryTag, _, err = r.ReadBinary()
		case 3:
			t.MessageFormat, _, err = r.ReadUint32()
		case 4:
			t.Settled, t.HasSettled, err = r.ReadBool()
		case 5:
			t.More, _, err = r.ReadBool()
		case 6:
			t.RcvSettleMode, t.HasRcvSettleMode, err = r.ReadUint8()
		case 7:
			t.State, err = r.ReadDeliveryState()
		case 8:
			t.Resume, _, err = r.ReadBool()
		case 9:
			t.Aborted, _, err = r.ReadBool()
		case 10:
			t.Batchable, _, err = r.ReadBool()
		default:
			err = r.Skip()
		}
	}
	return err
}

// Marshal writes t without its payload.
func (t *Transfer) Marshal(w *Writer) error {
	w.Descriptor(CodeTransfer)
	l := w.StartList()
	w.Uint(t.Handle)
	l.Field()
	if t.HasDeliveryID {
		w.Uint(t.DeliveryID)
		l.Field()
		w.Binary(t.DeliveryTag)
		l.Field()
		w.Uint(t.MessageFormat)
		l.Field()
	} else {
		l.Null()
		l.Null()
		l.Null()
	}
	if t.HasSettled {
		w.Bool(t.Settled)
		l.Field()
	} else {
		l.Null()
	}
	if t.More {
		w.Bool(true)
		l.Field()
	} else {
		l.Null()
	}
	if t.HasRcvSettleMode {
		w.Ubyte(t.RcvSettleMode)
		l.Field()
	} else {
		l.Null()
	}
	if t.State != nil {
		if err := t.State.MarshalAMQP(w); err != nil {
			return err
		}
		l.Field()
	} else {
		l.Null()
	}
	l.Null()
	if t.Aborted {
		w.Bool(true)
		l.Field()
	}
	l.End()
	return nil
}

// Disposition is the disposition performative.
type Disposition struct {
	Role      bool
	First     uint32
	Last      uint32
	HasLast   bool
	Settled   bool
	State     DeliveryState
	Batchable bool
}

func (d *Disposition) decode(r *Reader, n int) (err error) {
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			d.Role, _, err = r.ReadBool()
		case 1:
			d.First, _, err = r.ReadUint32()
		case 2:
			d.Last, d.HasLast, err = r.ReadUint32()
		case 3:
			d.Settled, _, err = r.ReadBool()
		case 4:
			d.State, err = r.ReadDeliveryState()
		case 5:
			d.Batchable, _, err = r.ReadBool()
		default:
			err = r.Skip()
		}
	}
	if !d.HasLast {
		d.Last = d.First
	}
	return err
}

// Marshal writes d.
func (d *Disposition) Marshal(w *Writer) error {
	w.Descriptor(CodeDisposition)
	l := w.StartList()
	w.Bool(d.Role)
	l.Field()
	w.Uint(d.First)
	l.Field()
	if d.HasLast && d.Last != d.First {
		w.Uint(d.Last)
		l.Field()
	} else {
		l.Null()
	}
	w.Bool(d.Settled)
	l.Field()
	if d.State != nil {
		if err := d.State.MarshalAMQP(w); err != nil {
			return err
		}
		l.Field()
	}
	l.End()
	return nil
}
