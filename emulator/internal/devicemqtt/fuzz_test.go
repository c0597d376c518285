package devicemqtt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// fakeHub accepts device "d1" and stores nothing.
type fakeHub struct{ sessions *sessions.Manager }

func (h *fakeHub) Authenticate(_ context.Context, info ConnectInfo) (Identity, error) {
	if info.ClientID != "d1" {
		return Identity{}, &RefusedError{Code: ConnNotAuthorized, Reason: "unknown"}
	}
	return Identity{Key: sessions.Key{DeviceID: "d1"}}, nil
}
func (h *fakeHub) Sessions() *sessions.Manager                             { return h.sessions }
func (h *fakeHub) Telemetry(context.Context, sessions.Key, *Message) error { return nil }
func (h *fakeHub) ReceiveC2D(ctx context.Context, _ sessions.Key) (*devicebound.Message, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (h *fakeHub) SettleC2D(sessions.Key, string, Outcome) error { return nil }
func (h *fakeHub) DeviceTwin(sessions.Key) ([]byte, error) {
	return []byte(`{"desired":{},"reported":{}}`), nil
}
func (h *fakeHub) UpdateReported(sessions.Key, []byte) (int64, error) {
	return 0, errors.New("refused")
}
func (h *fakeHub) Touch(sessions.Key) {}

func connectPacket(t testing.TB) []byte {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "d1", Clean: true, Keepalive: 30,
			UsernameFlag: true, Username: []byte("h/d1/?api-version=2021-04-12"), PasswordFlag: true, Password: []byte("x")},
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzConn feeds arbitrary bytes to a connection after a valid CONNECT:
// the front end must answer or close, never panic or hang.
func FuzzConn(f *testing.F) {
	encode := func(pk packets.Packet) []byte {
		pk.ProtocolVersion = 4
		var buf bytes.Buffer
		_ = encode(&pk, &buf)
		return buf.Bytes()
	}
	sub := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1, ProtocolVersion: 4,
		Filters: packets.Subscriptions{{Filter: "$iothub/twin/res/#"}, {Filter: "devices/d1/messages/devicebound/#", Qos: 1}}}
	var subBuf bytes.Buffer
	_ = sub.SubscribeEncode(&subBuf)
	f.Add(subBuf.Bytes())
	f.Add(encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2, TopicName: "devices/d1/messages/events/a=b&%24.mid=1", Payload: []byte("x")}))
	f.Add(encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "$iothub/twin/GET/?$rid=1"}))
	f.Add(encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "$iothub/methods/res/200/?$rid=7", Payload: []byte("{}")}))
	f.Add([]byte{0xc0, 0x00}) // PINGREQ
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x82, 0x02, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewServer(&fakeHub{sessions: sessions.NewManager(nil, nil)}, &Options{ConnectTimeout: time.Second})
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.ServeConn(context.Background(), server, nil)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = client.Write(connectPacket(t))
		_, _ = client.Write(data)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection did not end after its peer closed")
		}
		s.Close()
	})
}
