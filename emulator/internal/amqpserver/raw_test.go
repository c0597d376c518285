package amqpserver

import (
	"fmt"
	"io"

	"github.com/Azure/go-amqp"
	"net"
	"testing"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawClient speaks AMQP byte by byte, to send what go-amqp never would.
type rawClient struct {
	t  testing.TB
	nc net.Conn
}

func (ts *testServer) raw(t testing.TB) *rawClient {
	nc, err := net.Dial("tcp", ts.addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, nc: nc}
}

func (rc *rawClient) write(b []byte) {
	_, err := rc.nc.Write(b)
	require.NoError(rc.t, err)
}

func (rc *rawClient) header(id uint8) {
	h := encoding.ProtocolHeader(id)
	rc.write(h[:])
}

func (rc *rawClient) frame(typ uint8, ch uint16, p encoding.Performative, payload []byte) {
	var w encoding.Writer
	require.NoError(rc.t, encoding.AppendFrame(&w, typ, ch, p, payload))
	rc.write(w.B)
}

func (rc *rawClient) readHeader() [8]byte {
	var h [8]byte
	_, err := io.ReadFull(rc.nc, h[:])
	require.NoError(rc.t, err)
	return h
}

// readFrame returns the next non-heartbeat frame.
func (rc *rawClient) readFrame() encoding.Performative {
	for {
		var hb [8]byte
		_, err := io.ReadFull(rc.nc, hb[:])
		require.NoError(rc.t, err)
		h, err := encoding.ParseFrameHeader(hb[:])
		require.NoError(rc.t, err)
		body := make([]byte, h.Size-8)
		_, err = io.ReadFull(rc.nc, body)
		require.NoError(rc.t, err)
		p, err := encoding.DecodeBody(h.Type, body[int(h.DataOffset)*4-8:])
		require.NoError(rc.t, err)
		if p != nil {
			return p
		}
	}
}

// open does the plain AMQP handshake (no SASL) and returns the server's open.
func (rc *rawClient) open(o *encoding.Open) *encoding.Open {
	rc.header(encoding.ProtoAMQP)
	rc.frame(0, 0, o, nil)
	assert.Equal(rc.t, encoding.ProtocolHeader(0), rc.readHeader())
	so, ok := rc.readFrame().(*encoding.Open)
	require.True(rc.t, ok)
	return so
}

// expectClose reads frames until a close arrives and checks its condition,
// then that the server closes the socket.
func (rc *rawClient) expectClose(cond string) {
	for {
		p := rc.readFrame()
		if c, ok := p.(*encoding.Close); ok {
			require.NotNil(rc.t, c.Error)
			assert.Equal(rc.t, encoding.Symbol(cond), c.Error.Condition)
			break
		}
	}
	rc.expectEOF()
}

func (rc *rawClient) expectEOF() {
	rc.nc.(*net.TCPConn).CloseWrite()
	_, err := io.Copy(io.Discard, rc.nc)
	require.NoError(rc.t, err, "the server must close the connection")
}

func TestFramingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		send func(rc *rawClient)
		cond string
	}{
		{"oversized frame", func(rc *rawClient) {
			rc.write([]byte{0, 0x10, 0, 0, 2, 0, 0, 0}) // 1 MiB > 4096
		}, CondFramingError},
		{"bad data offset", func(rc *rawClient) {
			rc.write([]byte{0, 0, 0, 8, 1, 0, 0, 0})
		}, CondFramingError},
		{"malformed body", func(rc *rawClient) {
			rc.write([]byte{0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0xd0})
		}, CondDecodeError},
		{"hostile list count", func(rc *rawClient) {
			rc.write([]byte{0, 0, 0, 20, 2, 0, 0, 0, 0x00, 0x53, 0x11, 0xd0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff})
		}, CondDecodeError},
		{"unknown performative", func(rc *rawClient) {
			rc.write([]byte{0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x7f, 0x45})
		}, CondDecodeError},
		{"second open", func(rc *rawClient) {
			rc.frame(0, 0, &encoding.Open{ContainerID: "again"}, nil)
		}, CondIllegalState},
		{"transfer without session", func(rc *rawClient) {
			rc.frame(0, 3, &encoding.Transfer{HasDeliveryID: true}, []byte{0})
		}, CondIllegalState},
		{"sasl frame after open", func(rc *rawClient) {
			rc.frame(1, 0, &encoding.SASLInit{Mechanism: "ANONYMOUS"}, nil)
		}, CondFramingError},
	}
	ts := newTestServer(t, &ServerOptions{MaxFrameSize: 4096})
	for i, tt := range tests {
		addr := fmt.Sprint("q", i)
		require.NoError(t, ts.Handle(addr, newQueueNode().node()))
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A healthy connection alongside must not notice.
			s := ts.session(t, nil)
			rc := ts.raw(t)
			rc.open(&encoding.Open{ContainerID: "raw", MaxFrameSize: 65536, ChannelMax: 10})
			tt.send(rc)
			rc.expectClose(tt.cond)
			require.NoError(t, roundTrip(testCtx(t), s, addr))
		})
	}
}

func TestProtocolHeaderRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   *ServerOptions
		header []byte
		want   uint8
	}{
		{"tls", nil, []byte("AMQP\x02\x01\x00\x00"), encoding.ProtoSASL},
		{"tls without sasl", &ServerOptions{DisableAnonymous: true}, []byte("AMQP\x02\x01\x00\x00"), encoding.ProtoAMQP},
		{"amqp 0.9", nil, []byte("AMQP\x00\x00\x09\x01"), encoding.ProtoSASL},
		{"not amqp", nil, []byte("GET / HT"), encoding.ProtoSASL},
		{"sasl required", &ServerOptions{RequireSASL: true}, []byte("AMQP\x00\x01\x00\x00"), encoding.ProtoSASL},
		{"sasl disabled", &ServerOptions{DisableAnonymous: true}, []byte("AMQP\x03\x01\x00\x00"), encoding.ProtoAMQP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, tt.opts)
			rc := ts.raw(t)
			rc.write(tt.header)
			assert.Equal(t, encoding.ProtocolHeader(tt.want), rc.readHeader())
			rc.expectEOF()
		})
	}
}

func TestSASLOutcomeCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		init *encoding.SASLInit
		want uint8
	}{
		{"plain ok", &encoding.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00iothubowner@sas.root.myhub\x00" + goodToken)}, 0},
		{"plain bad password", &encoding.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00iothubowner@sas.root.myhub\x00nope")}, 1},
		{"plain malformed", &encoding.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("no separators")}, 1},
		{"plain sys-temp", &encoding.SASLInit{Mechanism: "PLAIN", InitialResponse: []byte("\x00busy@sas.root.myhub\x00x")}, 4},
		{"unknown mechanism", &encoding.SASLInit{Mechanism: "SCRAM-SHA-256"}, 1},
		{"anonymous", &encoding.SASLInit{Mechanism: "ANONYMOUS"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &ServerOptions{SASLPlain: checkPlain})
			rc := ts.raw(t)
			rc.header(encoding.ProtoSASL)
			assert.Equal(t, encoding.ProtocolHeader(encoding.ProtoSASL), rc.readHeader())
			mechs, ok := rc.readFrame().(*encoding.SASLMechanisms)
			require.True(t, ok)
			assert.Equal(t, []encoding.Symbol{"PLAIN", "ANONYMOUS"}, mechs.Mechanisms)
			rc.frame(encoding.FrameTypeSASL, 0, tt.init, nil)
			out, ok := rc.readFrame().(*encoding.SASLOutcome)
			require.True(t, ok)
			assert.Equal(t, tt.want, out.Code)
			if tt.want != 0 {
				rc.expectEOF()
				return
			}
			rc.open(&encoding.Open{ContainerID: "raw"})
		})
	}
}

func TestIdleTimeoutSilentClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &ServerOptions{IdleTimeout: 200 * time.Millisecond})
	rc := ts.raw(t)
	so := rc.open(&encoding.Open{ContainerID: "silent"})
	assert.Equal(t, uint32(200), so.IdleTimeout, "the server advertises its idle timeout")
	// Say nothing more: the server must give up with resource-limit-exceeded.
	rc.expectClose(CondResourceLimitExceeded)
}

func TestServerSendsHeartbeats(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	rc := ts.raw(t)
	// The client says it gives up after 400ms of silence.
	rc.open(&encoding.Open{ContainerID: "needs-heartbeats", IdleTimeout: 400})
	rc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 5 {
		start := time.Now()
		var hb [8]byte
		_, err := io.ReadFull(rc.nc, hb[:])
		require.NoError(t, err)
		assert.Equal(t, [8]byte{0, 0, 0, 8, 2, 0, 0, 0}, hb, "an empty frame")
		assert.Less(t, time.Since(start), 400*time.Millisecond)
	}
}

func TestIdleTimeoutWithGoAMQP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server time.Duration
		client time.Duration
	}{
		// Generous periods: a loaded CI machine must not starve a heartbeat.
		{"client heartbeats keep the server happy", time.Second, 0},
		{"server heartbeats keep the client happy", -1, time.Second},
		{"both ways", time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &ServerOptions{IdleTimeout: tt.server})
			q := newQueueNode()
			require.NoError(t, ts.Handle("q", q.node()))
			conn := ts.dial(t, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), IdleTimeout: tt.client})
			ctx := testCtx(t)
			s, err := conn.NewSession(ctx, nil)
			require.NoError(t, err)
			// Three idle timeouts of silence from the application.
			select {
			case <-conn.Done():
				t.Fatalf("connection closed while idle: %v", conn.Err())
			case <-time.After(2500 * time.Millisecond):
			}
			require.NoError(t, roundTrip(ctx, s, "q"))
		})
	}
}

func TestMessageSizeExceeded(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	require.NoError(t, ts.Handle("q", &Node{Incoming: func(l *IncomingLink) (MessageHandler, error) {
		l.SetMaxMessageSize(1000)
		l.SetCredit(7)
		return func(*Delivery) Outcome { return Accepted{} }, nil
	}}))
	rc := ts.raw(t)
	rc.open(&encoding.Open{ContainerID: "raw", MaxFrameSize: 65536})
	rc.frame(0, 0, &encoding.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10}, nil)
	_, ok := rc.readFrame().(*encoding.Begin)
	require.True(t, ok)
	rc.frame(0, 0, &encoding.Attach{Name: "big", Handle: 0, Role: encoding.RoleSender, Target: &encoding.Target{Address: "q"}}, nil)
	att, ok := rc.readFrame().(*encoding.Attach)
	require.True(t, ok)
	assert.Equal(t, uint64(1000), att.MaxMessageSize)
	fl, ok := rc.readFrame().(*encoding.Flow)
	require.True(t, ok)
	require.NotNil(t, fl.LinkCredit)
	assert.Equal(t, uint32(7), *fl.LinkCredit)

	// 2 frames of 600 bytes: the second crosses the limit.
	chunk := make([]byte, 600)
	rc.frame(0, 0, &encoding.Transfer{Handle: 0, DeliveryID: 0, HasDeliveryID: true, DeliveryTag: []byte{1}, More: true}, chunk)
	rc.frame(0, 0, &encoding.Transfer{Handle: 0}, chunk)
	det, ok := rc.readFrame().(*encoding.Detach)
	require.True(t, ok)
	require.NotNil(t, det.Error)
	assert.Equal(t, encoding.Symbol(CondMessageSizeExceeded), det.Error.Condition)
	assert.True(t, det.Closed)

	// The handle is free again once the client answers.
	rc.frame(0, 0, &encoding.Detach{Handle: 0, Closed: true}, nil)
	rc.frame(0, 0, &encoding.Attach{Name: "again", Handle: 0, Role: encoding.RoleSender, Target: &encoding.Target{Address: "q"}}, nil)
	att, ok = rc.readFrame().(*encoding.Attach)
	require.True(t, ok)
	assert.Equal(t, "again", att.Name)
	assert.Equal(t, uint32(0), att.Handle)
}

func TestFlowEcho(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	lc := newLinkCatcher()
	require.NoError(t, ts.Handle("n", lc.node()))
	rc := ts.raw(t)
	rc.open(&encoding.Open{ContainerID: "raw"})
	rc.frame(0, 0, &encoding.Begin{IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10}, nil)
	rc.readFrame()
	rc.frame(0, 0, &encoding.Attach{Name: "in", Handle: 0, Role: encoding.RoleSender, Target: &encoding.Target{Address: "n"}}, nil)
	rc.readFrame() // attach
	rc.readFrame() // flow with credit
	rc.frame(0, 0, &encoding.Attach{Name: "out", Handle: 1, Role: encoding.RoleReceiver, Source: &encoding.Source{Address: "n"}}, nil)
	rc.readFrame() // attach

	u := func(v uint32) *uint32 { return &v }
	tests := []struct {
		name string
		flow *encoding.Flow
		want func(t *testing.T, f *encoding.Flow)
	}{
		{"session", &encoding.Flow{NextIncomingID: u(0), IncomingWindow: 100, Echo: true}, func(t *testing.T, f *encoding.Flow) {
			assert.Nil(t, f.Handle)
		}},
		{"incoming link after a drain", &encoding.Flow{NextIncomingID: u(0), IncomingWindow: 100, Handle: u(0), DeliveryCount: u(3), LinkCredit: u(0), Echo: true},
			func(t *testing.T, f *encoding.Flow) {
				require.NotNil(t, f.Handle)
				assert.Equal(t, uint32(3), *f.DeliveryCount, "the server adopts the sender's delivery-count")
			}},
		{"outgoing link", &encoding.Flow{NextIncomingID: u(0), IncomingWindow: 100, Handle: u(1), DeliveryCount: u(0), LinkCredit: u(9), Echo: true},
			func(t *testing.T, f *encoding.Flow) {
				require.NotNil(t, f.Handle)
				assert.Equal(t, uint32(9), *f.LinkCredit)
			}},
	}
	for _, tt := range tests {
		rc.frame(0, 0, tt.flow, nil)
		var f *encoding.Flow
		for f == nil {
			f, _ = rc.readFrame().(*encoding.Flow)
		}
		t.Run(tt.name, func(t *testing.T) { tt.want(t, f) })
	}
}

// TestCapabilities: a node sees the capabilities the client desires and
// offers back the ones it supports in its attach.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, nil)
	desires := make(chan [2]bool, 1)
	require.NoError(t, ts.Handle("p", &Node{Outgoing: func(l *OutgoingLink) error {
		desires <- [2]bool{l.Desires("com.microsoft:enable-receiver-runtime-metric"), l.Desires("unknown")}
		l.SetOfferedCapabilities("com.microsoft:enable-receiver-runtime-metric")
		return nil
	}}))
	rc := ts.raw(t)
	rc.open(&encoding.Open{ContainerID: "raw"})
	rc.frame(0, 0, &encoding.Begin{IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10}, nil)
	rc.readFrame()
	rc.frame(0, 0, &encoding.Attach{Name: "r", Handle: 0, Role: encoding.RoleReceiver, Source: &encoding.Source{Address: "p"},
		DesiredCapabilities: []encoding.Symbol{"com.microsoft:enable-receiver-runtime-metric"}}, nil)
	att, ok := rc.readFrame().(*encoding.Attach)
	require.True(t, ok)
	assert.Equal(t, [2]bool{true, false}, <-desires)
	assert.Equal(t, []encoding.Symbol{"com.microsoft:enable-receiver-runtime-metric"}, att.OfferedCapabilities)
}
