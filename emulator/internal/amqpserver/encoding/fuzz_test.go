package encoding

import (
	"runtime"
	"testing"
	"time"
)

// allocBound is the most a decoder may allocate for n input bytes: a small
// constant factor (Go values are bigger than their encodings) plus slack,
// never the multi-gigabyte figure a hostile length field asks for.
func allocBound(n int) uint64 { return uint64(n)*128 + 64<<10 }

func checkAllocs(t *testing.T, in []byte, f func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > allocBound(len(in)) {
		t.Fatalf("decoding %d bytes allocated %d bytes", len(in), got)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("decoding %d bytes took %v", len(in), elapsed)
	}
}

func seedFrames() [][]byte {
	nid := uint32(7)
	h := uint32(1)
	perfs := []Performative{
		&Open{ContainerID: "c", Hostname: "h", MaxFrameSize: 512, ChannelMax: 3, IdleTimeout: 1000,
			Properties: map[Symbol]any{"p": int64(1)}},
		&Begin{NextOutgoingID: 1, IncomingWindow: 10, OutgoingWindow: 10, HandleMax: 5},
		&Attach{Name: "l", Handle: 1, Role: RoleReceiver, Source: &Source{Address: "a",
			Filter: map[Symbol]any{"apache.org:selector-filter:string": &Described{Descriptor: uint64(0x468C00000004), Value: "x"}}},
			Target: &Target{Address: "t"}, Properties: map[Symbol]any{"com.microsoft:epoch": int64(3)}},
		&Flow{NextIncomingID: &nid, IncomingWindow: 5, Handle: &h, LinkCredit: &nid, Drain: true},
		&Transfer{Handle: 1, DeliveryID: 2, HasDeliveryID: true, DeliveryTag: []byte{1}, HasSettled: true, More: true},
		&Disposition{Role: RoleReceiver, First: 1, Last: 4, HasLast: true, Settled: true,
			State: &StateRejected{Error: &Error{Condition: "c", Info: map[Symbol]any{"k": "v"}}}},
		&Disposition{State: &StateModified{DeliveryFailed: true, Annotations: map[Symbol]any{"x-opt": uint64(1)}}},
		&Detach{Handle: 1, Closed: true, Error: &Error{Condition: "amqp:link:redirect", Info: map[Symbol]any{"port": int32(5671)}}},
		&End{}, &Close{Error: &Error{Condition: "x"}},
		&SASLMechanisms{Mechanisms: []Symbol{"PLAIN", "ANONYMOUS"}},
		&SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00u\x00p")},
		&SASLOutcome{Code: 1},
	}
	var out [][]byte
	for _, p := range perfs {
		var w Writer
		typ := FrameTypeAMQP
		switch p.(type) {
		case *SASLMechanisms, *SASLInit, *SASLOutcome:
			typ = FrameTypeSASL
		}
		if err := AppendFrame(&w, typ, 0, p, []byte("payload")); err != nil {
			panic(err)
		}
		out = append(out, w.B)
	}
	return append(out,
		[]byte{0, 0, 0, 8, 2, 0, 0, 0},
		[]byte{0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0},
		[]byte{0, 0, 0, 20, 2, 0, 0, 0, 0x00, 0x53, 0x11, 0xd0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff},
	)
}

func FuzzFrameDecode(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAllocs(t, in, func() {
			rest := in
			for len(rest) > 0 {
				_, p, next, err := ParseFrame(rest, 1<<20)
				if err != nil {
					return
				}
				if p != nil {
					// Whatever decodes must encode again.
					var w Writer
					if err := p.Marshal(&w); err != nil {
						t.Fatalf("re-encoding %T: %v", p, err)
					}
				}
				rest = next
			}
		})
	})
}

func FuzzTypeDecode(f *testing.F) {
	for _, s := range seedFrames() {
		if len(s) > 8 {
			f.Add(s[8:])
		}
	}
	for _, s := range [][]byte{
		{0xb0, 0xff, 0xff, 0xff, 0xff, 1},
		{0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40},
		{0xd1, 0, 0, 0, 8, 0, 0, 0, 2, 0xa1, 1, 'k', 0x42},
		{0xe0, 6, 2, 0xa3, 1, 'a', 1, 'b'},
		{0x00, 0x53, 0x25, 0xc0, 1, 0},
		deepList(40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkAllocs(t, in, func() {
			r := NewReader(in)
			for r.Len() > 0 {
				if _, err := r.ReadAny(); err != nil {
					break
				}
			}
			r.Reset(in)
			for r.Len() > 0 {
				if err := r.Skip(); err != nil {
					break
				}
			}
			r.Reset(in)
			_, _ = r.ReadDeliveryState()
			r.Reset(in)
			_, _ = r.ReadError()
			r.Reset(in)
			_, _ = r.ReadSymbols()
		})
	})
}
