package encoding

// Roles and settle modes of a link (part 2, section 2.8).
const (
	RoleSender   = false
	RoleReceiver = true

	SndSettleUnsettled uint8 = 0
	SndSettleSettled   uint8 = 1
	SndSettleMixed     uint8 = 2

	RcvSettleFirst  uint8 = 0
	RcvSettleSecond uint8 = 1
)

// Source is a link source terminus.
type Source struct {
	Address               string
	Durable               uint32
	ExpiryPolicy          Symbol
	Timeout               uint32
	Dynamic               bool
	DynamicNodeProperties map[Symbol]any
	DistributionMode      Symbol
	Filter                map[Symbol]any
	DefaultOutcome        any
	Outcomes              []Symbol
	Capabilities          []Symbol
}

// Target is a link target terminus.
type Target struct {
	Address               string
	Durable               uint32
	ExpiryPolicy          Symbol
	Timeout               uint32
	Dynamic               bool
	DynamicNodeProperties map[Symbol]any
	Capabilities          []Symbol
}

func readSource(r *Reader) (*Source, error) {
	if r.IsNull() {
		return nil, nil
	}
	if _, err := r.expect(CodeSource); err != nil {
		return nil, err
	}
	n, end, err := r.ReadListHeader()
	if err != nil {
		return nil, err
	}
	s := &Source{}
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			s.Address, _, err = r.ReadString()
		case 1:
			s.Durable, _, err = r.ReadUint32()
		case 2:
			s.ExpiryPolicy, _, err = r.ReadSymbol()
		case 3:
			s.Timeout, _, err = r.ReadUint32()
		case 4:
			s.Dynamic, _, err = r.ReadBool()
		case 5:
			s.DynamicNodeProperties, err = r.ReadFields()
		case 6:
			s.DistributionMode, _, err = r.ReadSymbol()
		case 7:
			s.Filter, err = r.ReadFields()
		case 8:
			s.DefaultOutcome, err = r.ReadAny()
		case 9:
			s.Outcomes, err = r.ReadSymbols()
		case 10:
			s.Capabilities, err = r.ReadSymbols()
		default:
			err = r.Skip()
		}
	}
	if err != nil {
		return nil, err
	}
	return s, r.CheckEnd(end)
}

func readTarget(r *Reader) (*Target, error) {
	if r.IsNull() {
		return nil, nil
	}
	if _, err := r.expect(CodeTarget); err != nil {
		return nil, err
	}
	n, end, err := r.ReadListHeader()
	if err != nil {
		return nil, err
	}
	t := &Target{}
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			t.Address, _, err = r.ReadString()
		case 1:
			t.Durable, _, err = r.ReadUint32()
		case 2:
			t.ExpiryPolicy, _, err = r.ReadSymbol()
		case 3:
			t.Timeout, _, err = r.ReadUint32()
		case 4:
			t.Dynamic, _, err = r.ReadBool()
		case 5:
			t.DynamicNodeProperties, err = r.ReadFields()
		case 6:
			t.Capabilities, err = r.ReadSymbols()
		default:
			err = r.Skip()
		}
	}
	if err != nil {
		return nil, err
	}
	return t, r.CheckEnd(end)
}

func optString(w *Writer, l *List, s string) {
	if s == "" {
		l.Null()
		return
	}
	w.String(s)
	l.Field()
}

func optSymbol(w *Writer, l *List, s Symbol) {
	if s == "" {
		l.Null()
		return
	}
	w.Symbol(s)
	l.Field()
}

func optFields(w *Writer, l *List, m map[Symbol]any) error {
	if len(m) == 0 {
		l.Null()
		return nil
	}
	if err := w.Fields(m); err != nil {
		return err
	}
	l.Field()
	return nil
}

func optSymbols(w *Writer, l *List, s []Symbol) {
	if len(s) == 0 {
		l.Null()
		return
	}
	w.Symbols(s)
	l.Field()
}

// MarshalAMQP writes s.
func (s *Source) MarshalAMQP(w *Writer) error {
	w.Descriptor(CodeSource)
	l := w.StartList()
	optString(w, &l, s.Address)
	w.Uint(s.Durable)
	l.Field()
	optSymbol(w, &l, s.ExpiryPolicy)
	w.Uint(s.Timeout)
	l.Field()
	w.Bool(s.Dynamic)
	l.Field()
	if err := optFields(w, &l, s.DynamicNodeProperties); err != nil {
		return err
	}
	optSymbol(w, &l, s.DistributionMode)
	if err := optFields(w, &l, s.Filter); err != nil {
		return err
	}
	if s.DefaultOutcome != nil {
		if err := w.Any(s.DefaultOutcome); err != nil {
			return err
		}
		l.Field()
	} else {
		l.Null()
	}
	optSymbols(w, &l, s.Outcomes)
	optSymbols(w, &l, s.Capabilities)
	l.End()
	return nil
}

// MarshalAMQP writes t.
func (t *Target) MarshalAMQP(w *Writer) error {
	w.Descriptor(CodeTarget)
	l := w.StartList()
	optString(w, &l, t.Address)
	w.Uint(t.Durable)
	l.Field()
	optSymbol(w, &l, t.ExpiryPolicy)
	w.Uint(t.Timeout)
	l.Field()
	w.Bool(t.Dynamic)
	l.Field()
	if err := optFields(w, &l, t.DynamicNodeProperties); err != nil {
		return err
	}
	optSymbols(w, &l, t.Capabilities)
	l.End()
	return nil
}

// Attach is the attach performative.
type Attach struct {
	Name                 string
	Handle               uint32
	Role                 bool
	SndSettleMode        uint8 // default mixed
	RcvSettleMode        uint8 // default first
	Source               *Source
	Target               *Target
	InitialDeliveryCount uint32
	MaxMessageSize       uint64 // 0 means no limit
	OfferedCapabilities  []Symbol
	DesiredCapabilities  []Symbol
	Properties           map[Symbol]any
}

func (a *Attach) decode(r *Reader, n int) (err error) {
	a.SndSettleMode = SndSettleMixed
	var ok bool
	var u8 uint8
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			a.Name, _, err = r.ReadString()
		case 1:
			a.Handle, _, err = r.ReadUint32()
		case 2:
			a.Role, _, err = r.ReadBool()
		case 3:
			if u8, ok, err = r.ReadUint8(); ok {
				a.SndSettleMode = u8
			}
		case 4:
			a.RcvSettleMode, _, err = r.ReadUint8()
		case 5:
			a.Source, err = readSource(r)
		case 6:
			a.Target, err = readTarget(r)
		case 9:
			a.InitialDeliveryCount, _, err = r.ReadUint32()
		case 10:
			a.MaxMessageSize, _, err = r.ReadUint64()
		case 11:
			a.OfferedCapabilities, err = r.ReadSymbols()
		case 12:
			a.DesiredCapabilities, err = r.ReadSymbols()
		case 13:
			a.Properties, err = r.ReadFields()
		default:
			err = r.Skip()
		}
	}
	if err == nil && (a.SndSettleMode > SndSettleMixed || a.RcvSettleMode > RcvSettleSecond) {
		err = decodeErr("invalid settle modes %d/%d", a.SndSettleMode, a.RcvSettleMode)
	}
	return err
}

// Marshal writes a.
func (a *Attach) Marshal(w *Writer) error {
	w.Descriptor(CodeAttach)
	l := w.StartList()
	w.String(a.Name)
	l.Field()
	w.Uint(a.Handle)
	l.Field()
	w.Bool(a.Role)
	l.Field()
	w.Ubyte(a.SndSettleMode)
	l.Field()
	w.Ubyte(a.RcvSettleMode)
	l.Field()
	if a.Source != nil {
		if err := a.Source.MarshalAMQP(w); err != nil {
			return err
		}
		l.Field()
	} else {
		l.Null()
	}
	if a.Target != nil {
		if err := a.Target.MarshalAMQP(w); err != nil {
			return err
		}
		l.Field()
	} else {
		l.Null()
	}
	l.Null() // unsettled
	l.Null() // incomplete-unsettled
	if a.Role == RoleSender {
		w.Uint(a.InitialDeliveryCount)
		l.Field()
	} else {
		l.Null()
	}
	if a.MaxMessageSize > 0 {
		w.Ulong(a.MaxMessageSize)
		l.Field()
	} else {
		l.Null()
	}
	optSymbols(w, &l, a.OfferedCapabilities)
	optSymbols(w, &l, a.DesiredCapabilities)
	if err := optFields(w, &l, a.Properties); err != nil {
		return err
	}
	l.End()
	return nil
}

// Flow is the flow performative. Pointer fields are optional.
type Flow struct {
	NextIncomingID *uint32
	IncomingWindow uint32
	NextOutgoingID uint32
	OutgoingWindow uint32
	Handle         *uint32
	DeliveryCount  *uint32
	LinkCredit     *uint32
	Available      *uint32
	Drain          bool
	Echo           bool
	Properties     map[Symbol]any
}

func (f *Flow) decode(r *Reader, n int) (err error) {
	// Backing store for the optional fields: one allocation, not five.
	var opt struct{ nid, h, dc, lc, av uint32 }
	p := &opt
	var ok bool
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			if p.nid, ok, err = r.ReadUint32(); ok {
				f.NextIncomingID = &p.nid
			}
		case 1:
			f.IncomingWindow, _, err = r.ReadUint32()
		case 2:
			f.NextOutgoingID, _, err = r.ReadUint32()
		case 3:
			f.OutgoingWindow, _, err = r.ReadUint32()
		case 4:
			if p.h, ok, err = r.ReadUint32(); ok {
				f.Handle = &p.h
			}
		case 5:
			if p.dc, ok, err = r.ReadUint32(); ok {
				f.DeliveryCount = &p.dc
			}
		case 6:
			if p.lc, ok, err = r.ReadUint32(); ok {
				f.LinkCredit = &p.lc
			}
		case 7:
			if p.av, ok, err = r.ReadUint32(); ok {
				f.Available = &p.av
			}
		case 8:
			f.Drain, _, err = r.ReadBool()
		case 9:
			f.Echo, _, err = r.ReadBool()
		case 10:
			f.Properties, err = r.ReadFields()
		default:
			err = r.Skip()
		}
	}
	return err
}

func optUint(w *Writer, l *List, v *uint32) {
	if v == nil {
		l.Null()
		return
	}
	w.Uint(*v)
	l.Field()
}

// Marshal writes f.
func (f *Flow) Marshal(w *Writer) error {
	w.Descriptor(CodeFlow)
	l := w.StartList()
	optUint(w, &l, f.NextIncomingID)
	w.Uint(f.IncomingWindow)
	l.Field()
	w.Uint(f.NextOutgoingID)
	l.Field()
	w.Uint(f.OutgoingWindow)
	l.Field()
	optUint(w, &l, f.Handle)
	optUint(w, &l, f.DeliveryCount)
	optUint(w, &l, f.LinkCredit)
	optUint(w, &l, f.Available)
	if f.Drain {
		w.Bool(true)
		l.Field()
	} else {
		l.Null()
	}
	if f.Echo {
		w.Bool(true)
		l.Field()
	} else {
		l.Null()
	}
	err := optFields(w, &l, f.Properties)
	l.End()
	return err
}
