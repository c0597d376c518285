package encoding

// Error is the AMQP error type carried by detach, end, close and rejected.
type Error struct {
	Condition   Symbol
	Description string
	Info        map[Symbol]any
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Condition)
	}
	return string(e.Condition) + ": " + e.Description
}

// ReadError reads an error or a null (nil, nil).
func (r *Reader) ReadError() (*Error, error) {
	if r.IsNull() {
		return nil, nil
	}
	if _, err := r.expect(CodeError); err != nil {
		return nil, err
	}
	n, end, err := r.ReadListHeader()
	if err != nil {
		return nil, err
	}
	e := &Error{}
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			e.Condition, _, err = r.ReadSymbol()
		case 1:
			e.Description, _, err = r.ReadString()
		case 2:
			e.Info, err = r.ReadFields()
		default:
			err = r.Skip()
		}
	}
	if err != nil {
		return nil, err
	}
	return e, r.CheckEnd(end)
}

// expect reads a descriptor and checks it is code.
func (r *Reader) expect(code uint64) (uint64, error) {
	c, err := r.ReadDescriptor()
	if err == nil && c != code {
		err = decodeErr("descriptor %#x where %#x was expected", c, code)
	}
	return c, err
}

// MarshalAMQP writes e.
func (e *Error) MarshalAMQP(w *Writer) error {
	w.Descriptor(CodeError)
	l := w.StartList()
	w.Symbol(e.Condition)
	l.Field()
	if e.Description != "" {
		w.String(e.Description)
		l.Field()
	} else {
		l.Null()
	}
	if len(e.Info) > 0 {
		if err := w.Fields(e.Info); err != nil {
			return err
		}
		l.Field()
	}
	l.End()
	return nil
}

func writeError(w *Writer, l *List, e *Error) error {
	if e == nil {
		l.Null()
		return nil
	}
	if err := e.MarshalAMQP(w); err != nil {
		return err
	}
	l.Field()
	return nil
}

// Open is the open performative.
type Open struct {
	ContainerID         string
	Hostname            string
	MaxFrameSize        uint32 // default 4294967295
	ChannelMax          uint16 // default 65535
	IdleTimeout         uint32 // milliseconds; 0 means none
	OfferedCapabilities []Symbol
	DesiredCapabilities []Symbol
	Properties          map[Symbol]any
}

func (o *Open) decode(r *Reader, n int) (err error) {
	o.MaxFrameSize, o.ChannelMax = 0xffffffff, 0xffff
	var ok bool
	var u32 uint32
	var u16 uint16
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			o.ContainerID, _, err = r.ReadString()
		case 1:
			o.Hostname, _, err = r.ReadString()
		case 2:
			if u32, ok, err = r.ReadUint32(); ok {
				o.MaxFrameSize = u32
			}
		case 3:
			if u16, ok, err = r.ReadUint16(); ok {
				o.ChannelMax = u16
			}
		case 4:
			o.IdleTimeout, _, err = r.ReadUint32()
		case 7:
			o.OfferedCapabilities, err = r.ReadSymbols()
		case 8:
			o.DesiredCapabilities, err = r.ReadSymbols()
		case 9:
			o.Properties, err = r.ReadFields()
		default:
			err = r.Skip()
		}
	}
	return err
}

// Marshal writes o.
func (o *Open) Marshal(w *Writer) error {
	w.Descriptor(CodeOpen)
	l := w.StartList()
	w.String(o.ContainerID)
	l.Field()
	if o.Hostname != "" {
		w.String(o.Hostname)
		l.Field()
	} else {
		l.Null()
	}
	w.Uint(o.MaxFrameSize)
	l.Field()
	w.Ushort(o.ChannelMax)
	l.Field()
	if o.IdleTimeout > 0 {
		w.Uint(o.IdleTimeout)
		l.Field()
	} else {
		l.Null()
	}
	l.Null()
	l.Null()
	w.Symbols(o.OfferedCapabilities)
	l.Field()
	w.Symbols(o.DesiredCapabilities)
	l.Field()
	if err := w.Fields(o.Properties); err != nil {
		return err
	}
	l.Field()
	l.End()
	return nil
}

// Begin is the begin performative.
type Begin struct {
	RemoteChannel  *uint16
	NextOutgoingID uint32
	IncomingWindow uint32
	OutgoingWindow uint32
	HandleMax      uint32 // default 4294967295
	Properties     map[Symbol]any
}

func (b *Begin) decode(r *Reader, n int) (err error) {
	b.HandleMax = 0xffffffff
	var ok bool
	var u32 uint32
	var u16 uint16
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			if u16, ok, err = r.ReadUint16(); ok {
				b.RemoteChannel = &u16
			}
		case 1:
			b.NextOutgoingID, _, err = r.ReadUint32()
		case 2:
			b.IncomingWindow, _, err = r.ReadUint32()
		case 3:
			b.OutgoingWindow, _, err = r.ReadUint32()
		case 4:
			if u32, ok, err = r.ReadUint32(); ok {
				b.HandleMax = u32
			}
		case 7:
			b.Properties, err = r.ReadFields()
		default:
			err = r.Skip()
		}
	}
	return err
}

// Marshal writes b.
func (b *Begin) Marshal(w *Writer) error {
	w.Descriptor(CodeBegin)
	l := w.StartList()
	if b.RemoteChannel != nil {
		w.Ushort(*b.RemoteChannel)
		l.Field()
	} else {
		l.Null()
	}
	w.Uint(b.NextOutgoingID)
	l.Field()
	w.Uint(b.IncomingWindow)
	l.Field()
	w.Uint(b.OutgoingWindow)
	l.Field()
	w.Uint(b.HandleMax)
	l.Field()
	l.Null()
	l.Null()
	if err := w.Fields(b.Properties); err != nil {
		return err
	}
	l.Field()
	l.End()
	return nil
}

// Detach is the detach performative.
type Detach struct {
	Handle uint32
	Closed bool
	Error  *Error
}

func (d *Detach) decode(r *Reader, n int) (err error) {
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			d.Handle, _, err = r.ReadUint32()
		case 1:
			d.Closed, _, err = r.ReadBool()
		case 2:
			d.Error, err = r.ReadError()
		default:
			err = r.Skip()
		}
	}
	return err
}

// Marshal writes d.
func (d *Detach) Marshal(w *Writer) error {
	w.Descriptor(CodeDetach)
	l := w.StartList()
	w.Uint(d.Handle)
	l.Field()
	w.Bool(d.Closed)
	l.Field()
	err := writeError(w, &l, d.Error)
	l.End()
	return err
}

// End is the end performative.
type End struct{ Error *Error }

// Close is the close performative.
type Close struct{ Error *Error }

func readErrorOnly(r *Reader, n int) (e *Error, err error) {
	for i := 0; i < n && err == nil; i++ {
		if i == 0 {
			e, err = r.ReadError()
		} else {
			err = r.Skip()
		}
	}
	return e, err
}

func writeErrorOnly(w *Writer, code uint64, e *Error) error {
	w.Descriptor(code)
	l := w.StartList()
	err := writeError(w, &l, e)
	l.End()
	return err
}

// Marshal writes e.
func (e *End) Marshal(w *Writer) error { return writeErrorOnly(w, CodeEnd, e.Error) }

// Marshal writes c.
func (c *Close) Marshal(w *Writer) error { return writeErrorOnly(w, CodeClose, c.Error) }
