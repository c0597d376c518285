package encoding

// SASL outcome codes (part 5, section 5.3.3.6).
const (
	SASLCodeOK      uint8 = 0
	SASLCodeAuth    uint8 = 1
	SASLCodeSys     uint8 = 2
	SASLCodeSysPerm uint8 = 3
	SASLCodeSysTemp uint8 = 4
)

// SASLMechanisms advertises the server's mechanisms.
type SASLMechanisms struct{ Mechanisms []Symbol }

// SASLInit is the client's choice of mechanism.
type SASLInit struct {
	Mechanism       Symbol
	InitialResponse []byte
	Hostname        string
}

// SASLResponse answers a challenge.
type SASLResponse struct{ Response []byte }

// SASLChallenge is a server challenge.
type SASLChallenge struct{ Challenge []byte }

// SASLOutcome ends the SASL exchange.
type SASLOutcome struct {
	Code           uint8
	AdditionalData []byte
}

func (m *SASLMechanisms) decode(r *Reader, n int) (err error) {
	for i := 0; i < n && err == nil; i++ {
		if i == 0 {
			m.Mechanisms, err = r.ReadSymbols()
		} else {
			err = r.Skip()
		}
	}
	return err
}

// Marshal writes m.
func (m *SASLMechanisms) Marshal(w *Writer) error {
	w.Descriptor(CodeSASLMechanisms)
	l := w.StartList()
	w.Symbols(m.Mechanisms)
	l.Field()
	l.End()
	return nil
}

func (s *SASLInit) decode(r *Reader, n int) (err error) {
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			s.Mechanism, _, err = r.ReadSymbol()
		case 1:
			var b []byte
			b, _, err = r.ReadBinary()
			s.InitialResponse = append([]byte(nil), b...)
		case 2:
			s.Hostname, _, err = r.ReadString()
		default:
			err = r.Skip()
		}
	}
	return err
}

// Marshal writes s.
func (s *SASLInit) Marshal(w *Writer) error {
	w.Descriptor(CodeSASLInit)
	l := w.StartList()
	w.Symbol(s.Mechanism)
	l.Field()
	w.Binary(s.InitialResponse)
	l.Field()
	optString(w, &l, s.Hostname)
	l.End()
	return nil
}

func readBinaryOnly(r *Reader, n int) (b []byte, err error) {
	for i := 0; i < n && err == nil; i++ {
		if i == 0 {
			var v []byte
			v, _, err = r.ReadBinary()
			b = append([]byte(nil), v...)
		} else {
			err = r.Skip()
		}
	}
	return b, err
}

// Marshal writes s.
func (s *SASLResponse) Marshal(w *Writer) error {
	w.Descriptor(CodeSASLResponse)
	l := w.StartList()
	w.Binary(s.Response)
	l.Field()
	l.End()
	return nil
}

// Marshal writes s.
func (s *SASLChallenge) Marshal(w *Writer) error {
	w.Descriptor(CodeSASLChallenge)
	l := w.StartList()
	w.Binary(s.Challenge)
	l.Field()
	l.End()
	return nil
}

func (s *SASLOutcome) decode(r *Reader, n int) (err error) {
	for i := 0; i < n && err == nil; i++ {
		switch i {
		case 0:
			s.Code, _, err = r.ReadUint8()
		case 1:
			var b []byte
			b, _, err = r.ReadBinary()
			s.AdditionalData = append([]byte(nil), b...)
		default:
			err = r.Skip()
		}
	}
	return err
}

// Marshal writes s.
func (s *SASLOutcome) Marshal(w *Writer) error {
	w.Descriptor(CodeSASLOutcome)
	l := w.StartList()
	w.Ubyte(s.Code)
	l.Field()
	if len(s.AdditionalData) > 0 {
		w.Binary(s.AdditionalData)
		l.Field()
	}
	l.End()
	return nil
}
