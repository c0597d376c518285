package encoding

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPerformativeRoundTrip(t *testing.T) {
	t.Parallel()
	u := func(v uint32) *uint32 { return &v }
	ch := uint16(4)
	tests := []struct {
		typ uint8
		p   Performative
	}{
		{FrameTypeAMQP, &Open{ContainerID: "c", Hostname: "h", MaxFrameSize: 4096, ChannelMax: 7, IdleTimeout: 30000,
			OfferedCapabilities: []Symbol{"a"}, Properties: map[Symbol]any{"k": "v"}}},
		{FrameTypeAMQP, &Begin{RemoteChannel: &ch, NextOutgoingID: 9, IncomingWindow: 100, OutgoingWindow: 200, HandleMax: 15}},
		{FrameTypeAMQP, &Attach{Name: "n", Handle: 3, Role: RoleSender, SndSettleMode: SndSettleSettled, RcvSettleMode: RcvSettleSecond,
			Source: &Source{Address: "s", Filter: map[Symbol]any{"f": &Described{Descriptor: Symbol("d"), Value: "x"}}, Capabilities: []Symbol{"c"}},
			Target: &Target{Address: "t", Durable: 1}, InitialDeliveryCount: 5, MaxMessageSize: 1 << 20,
			Properties: map[Symbol]any{"com.microsoft:epoch": int64(2)}}},
		{FrameTypeAMQP, &Flow{NextIncomingID: u(1), IncomingWindow: 2, NextOutgoingID: 3, OutgoingWindow: 4, Handle: u(5),
			DeliveryCount: u(6), LinkCredit: u(7), Available: u(8), Drain: true, Echo: true}},
		{FrameTypeAMQP, &Transfer{Handle: 1, DeliveryID: 2, HasDeliveryID: true, DeliveryTag: []byte("t"), MessageFormat: 0,
			Settled: true, HasSettled: true, More: true, RcvSettleMode: 1, HasRcvSettleMode: true, State: &StateAccepted{}, Payload: []byte("body")}},
		{FrameTypeAMQP, &Disposition{Role: RoleReceiver, First: 1, Last: 9, HasLast: true, Settled: true, State: &StateReleased{}}},
		{FrameTypeAMQP, &Disposition{Role: RoleSender, First: 1, Last: 1, State: &StateReceived{SectionNumber: 1, SectionOffset: 2}}},
		{FrameTypeAMQP, &Detach{Handle: 2, Closed: true, Error: &Error{Condition: "amqp:link:stolen", Description: "d", Info: map[Symbol]any{"x": int32(1)}}}},
		{FrameTypeAMQP, &End{Error: &Error{Condition: "e"}}},
		{FrameTypeAMQP, &Close{}},
		{FrameTypeSASL, &SASLMechanisms{Mechanisms: []Symbol{"PLAIN"}}},
		{FrameTypeSASL, &SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00u\x00p"), Hostname: "h"}},
		{FrameTypeSASL, &SASLChallenge{Challenge: []byte("c")}},
		{FrameTypeSASL, &SASLResponse{Response: []byte("r")}},
		{FrameTypeSASL, &SASLOutcome{Code: SASLCodeAuth, AdditionalData: []byte("a")}},
	}
	for _, tt := range tests {
		var w Writer
		var payload []byte
		if tr, ok := tt.p.(*Transfer); ok {
			payload = tr.Payload
		}
		require.NoError(t, AppendFrame(&w, tt.typ, 0, tt.p, payload))
		h, got, rest, err := ParseFrame(w.B, 1<<20)
		require.NoError(t, err, "%T", tt.p)
		assert.Empty(t, rest)
		assert.Equal(t, tt.typ, h.Type)
		assert.Equal(t, tt.p, got)
	}
}

func TestSymbolicDescriptors(t *testing.T) {
	t.Parallel()
	// amqp:close:list as a symbol instead of 0x18.
	body := append([]byte{0x00, 0xa3, 15}, "amqp:close:list"...)
	body = append(body, 0x45)
	p, err := DecodeBody(FrameTypeAMQP, body)
	require.NoError(t, err)
	assert.Equal(t, &Close{}, p)
}
