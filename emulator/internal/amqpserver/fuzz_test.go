package amqpserver

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"
)

func fuzzFrames(ps ...encoding.Performative) []byte {
	var w encoding.Writer
	for _, p := range ps {
		var payload []byte
		if _, ok := p.(*encoding.Transfer); ok {
			msg, _ := amqp.NewMessage([]byte("hello")).MarshalBinary()
			payload = msg
		}
		_ = encoding.AppendFrame(&w, encoding.FrameTypeAMQP, 0, p, payload)
	}
	return w.B
}

// FuzzServeConn feeds arbitrary frames to a connection after a valid open:
// the engine must neither panic nor hang, whatever the session and link
// state machines are asked to do.
func FuzzServeConn(f *testing.F) {
	one, ten := uint32(1), uint32(10)
	f.Add(fuzzFrames(
		&encoding.Begin{IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10},
		&encoding.Attach{Name: "s", Handle: 0, Role: encoding.RoleSender, Target: &encoding.Target{Address: "q"}},
		&encoding.Transfer{Handle: 0, DeliveryID: 0, HasDeliveryID: true, DeliveryTag: []byte{1}},
		&encoding.Attach{Name: "r", Handle: 1, Role: encoding.RoleReceiver, Source: &encoding.Source{Address: "q"}},
		&encoding.Flow{IncomingWindow: 100, Handle: &one, LinkCredit: &ten, Drain: true},
		&encoding.Disposition{Role: encoding.RoleReceiver, First: 0, Last: 0xffffffff, HasLast: true, Settled: true, State: &encoding.StateAccepted{}},
		&encoding.Detach{Handle: 0, Closed: true},
		&encoding.End{},
	))
	f.Add(fuzzFrames(
		&encoding.Begin{IncomingWindow: 1, HandleMax: 0xffffffff},
		&encoding.Attach{Name: "x", Handle: 0xffffffff, Role: encoding.RoleSender, Target: &encoding.Target{Address: "$cbs"}},
		&encoding.Transfer{Handle: 0xffffffff, DeliveryID: 5, HasDeliveryID: true, More: true},
		&encoding.Transfer{Handle: 0xffffffff, Aborted: true},
		&encoding.Flow{IncomingWindow: 0, NextIncomingID: &ten},
	))
	f.Add([]byte{0, 0, 0, 8, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		srv := NewServer(&ServerOptions{CloseTimeout: 50 * time.Millisecond, IdleTimeout: time.Second, MaxFrameSize: 4096})
		q := newQueueNode()
		_ = srv.Handle("q", q.node())
		_ = srv.Handle("$cbs", NewRequestResponseNode(func(context.Context, *Request) (*amqp.Message, error) {
			return amqp.NewMessage(nil), nil
		}))
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.ServeConn(context.Background(), server)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		hdr := encoding.ProtocolHeader(encoding.ProtoAMQP)
		client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = client.Write(hdr[:])
		_, _ = client.Write(fuzzFrames(&encoding.Open{ContainerID: "fuzz", MaxFrameSize: 512, ChannelMax: 4}))
		_, _ = client.Write(in)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeConn did not return")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
