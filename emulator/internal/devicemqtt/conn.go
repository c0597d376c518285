package devicemqtt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// protocolLevel is MQTT 3.1.1's protocol level, the version IoT Hub serves.
const protocolLevel = 4

// outQueue bounds the packets waiting to be written to one connection; a
// device that reads slower than that is disconnected, as a hub would.
const outQueue = 1024

// Reasons a connection ends, for the log and for tests.
var (
	errTokenExpired   = errors.New("the token of the connection expired")
	errQoS2           = errors.New("QoS 2 is not supported by IoT Hub")
	errSlowReader     = errors.New("the device does not read its packets")
	errKeepAlive      = errors.New("no packet within 1.5 keep-alive periods")
	errForeignTopic   = errors.New("a publish to a topic that is not the device's")
	errTooLarge       = errors.New("a message larger than the hub allows")
	errProtocol       = errors.New("a packet MQTT 3.1.1 does not allow here")
	errClientDisconns = errors.New("the device disconnected")
)

// subscriptions are what a device asked to receive.
type subscriptions struct {
	c2d, methods, twinRes, desired bool
}

// conn is one device connection.
type conn struct {
	s         *Server
	nc        net.Conn
	br        *bufio.Reader
	peerCerts []*x509.Certificate

	id        Identity // set once at CONNECT, under mu
	clean     bool
	keepAlive time.Duration

	out       chan []byte
	done      chan struct{}
	closeOnce sync.Once
	closeErr  atomic.Pointer[error]
	writerEnd chan struct{}

	rid atomic.Uint64

	mu        sync.Mutex
	session   *sessions.Session
	subs      subscriptions
	nextPID   uint16
	inflight  map[uint16]*inflightC2D
	methods   map[string]chan methodAnswer
	c2dCancel context.CancelFunc // the C2D pump's; nil when none runs
}

type inflightC2D struct {
	lockToken string
	acked     chan struct{}
}

type methodAnswer struct {
	status  int
	payload json.RawMessage
}

func newConn(s *Server, nc net.Conn, peerCerts []*x509.Certificate) *conn {
	return &conn{
		s: s, nc: nc, br: bufio.NewReaderSize(nc, 16<<10), peerCerts: peerCerts,
		out: make(chan []byte, outQueue), done: make(chan struct{}), writerEnd: make(chan struct{}),
		inflight: map[uint16]*inflightC2D{}, methods: map[string]chan methodAnswer{},
	}
}

// serve runs the connection: CONNECT, then packets until it ends.
func (c *conn) serve(ctx context.Context) error {
	defer c.close(nil)
	_ = c.nc.SetReadDeadline(c.s.opts.Now().Add(c.s.opts.ConnectTimeout))
	pk, err := c.readPacket(0)
	if err != nil {
		return err
	}
	if pk.FixedHeader.Type != packets.Connect {
		return fmt.Errorf("devicemqtt: the first packet is %s, not CONNECT", packets.PacketNames[pk.FixedHeader.Type])
	}
	if err := c.connect(ctx, pk); err != nil {
		c.s.opts.Logger.Info("devicemqtt: connection refused", "client", pk.Connect.ClientIdentifier, "reason", err.Error())
		return err
	}
	for {
		_ = c.nc.SetReadDeadline(c.s.opts.Now().Add(c.keepAlive * 3 / 2))
		pk, err := c.readPacket(protocolLevel)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = errKeepAlive
			}
			c.close(err)
			return err
		}
		if err := c.handle(ctx, pk); err != nil {
			c.close(err)
			return err
		}
	}
}

// readPacket reads and decodes one packet.
func (c *conn) readPacket(version byte) (*packets.Packet, error) {
	hb, err := c.br.ReadByte()
	if err != nil {
		return nil, err
	}
	pk := &packets.Packet{ProtocolVersion: version}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return nil, fmt.Errorf("%w: %v", errProtocol, err)
	}
	n, _, err := packets.DecodeLength(c.br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errProtocol, err)
	}
	if n > c.s.opts.MaxMessageSize+64<<10 { // room for the topic and ids
		return nil, errTooLarge
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return nil, err
	}
	if err := decode(pk, body); err != nil {
		return nil, fmt.Errorf("%w: %v", errProtocol, err)
	}
	return pk, nil
}

func decode(pk *packets.Packet, body []byte) error {
	switch pk.FixedHeader.Type {
	case packets.Connect:
		return pk.ConnectDecode(body)
	case packets.Publish:
		return pk.PublishDecode(body)
	case packets.Puback:
		return pk.PubackDecode(body)
	case packets.Subscribe:
		return pk.SubscribeDecode(body)
	case packets.Unsubscribe:
		return pk.UnsubscribeDecode(body)
	case packets.Pingreq, packets.Disconnect:
		return nil
	}
	return fmt.Errorf("packet type %d is not served", pk.FixedHeader.Type)
}

// connect authenticates the CONNECT and starts the session.
func (c *conn) connect(ctx context.Context, pk *packets.Packet) error {
	refuse := func(code byte, err error) error {
		// The writer has not started: answer directly, then close.
		var buf bytes.Buffer
		pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code, ProtocolVersion: protocolLevel}
		if pk.ConnackEncode(&buf) == nil {
			_ = c.nc.SetWriteDeadline(c.s.opts.Now().Add(5 * time.Second))
			_, _ = c.nc.Write(buf.Bytes())
		}
		return err
	}
	if pk.ProtocolVersion != protocolLevel || string(pk.Connect.ProtocolName) != "MQTT" {
		return refuse(ConnBadProtocolVersion, fmt.Errorf("protocol %q level %d; IoT Hub serves MQTT 3.1.1", pk.Connect.ProtocolName, pk.ProtocolVersion))
	}
	id, err := c.s.hub.Authenticate(ctx, ConnectInfo{
		ClientID: pk.Connect.ClientIdentifier, Username: string(pk.Connect.Username),
		Password: pk.Connect.Password, PeerCertificates: c.peerCerts,
	})
	if err != nil {
		code := ConnNotAuthorized
		var re *RefusedError
		if errors.As(err, &re) {
			code = re.Code
		}
		return refuse(code, err)
	}
	c.mu.Lock()
	c.id = id
	c.mu.Unlock()
	c.clean = pk.Connect.Clean
	c.keepAlive = time.Duration(pk.Connect.Keepalive) * time.Second
	if c.keepAlive <= 0 || c.keepAlive > c.s.opts.MaxKeepAlive {
		c.keepAlive = c.s.opts.MaxKeepAlive
	}
	subs, present := c.s.resume(id.Key, c.clean)
	go c.writer()
	c.mu.Lock() // a kick racing with Connect finds the session set
	c.session = c.s.hub.Sessions().Connect(id.Key, c)
	c.mu.Unlock()
	c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, SessionPresent: present, ProtocolVersion: protocolLevel})
	if !id.Expires.IsZero() {
		t := time.AfterFunc(id.Expires.Sub(c.s.opts.Now()), func() { c.close(errTokenExpired) })
		go func() { <-c.done; t.Stop() }()
	}
	c.s.hub.Touch(id.Key)
	c.mu.Lock()
	c.subs = subs
	c.mu.Unlock()
	c.applySubscriptions()
	return nil
}

// handle serves one packet after CONNECT.
func (c *conn) handle(ctx context.Context, pk *packets.Packet) error {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return c.publish(ctx, pk)
	case packets.Puback:
		c.mu.Lock()
		f := c.inflight[pk.PacketID]
		delete(c.inflight, pk.PacketID)
		c.mu.Unlock()
		if f != nil {
			close(f.acked)
		}
		return nil
	case packets.Subscribe:
		return c.subscribe(pk)
	case packets.Unsubscribe:
		return c.unsubscribe(pk)
	case packets.Pingreq:
		c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
		return nil
	case packets.Disconnect:
		return errClientDisconns
	}
	return errProtocol
}

// publish serves a PUBLISH from the device.
func (c *conn) publish(ctx context.Context, pk *packets.Packet) error {
	if pk.FixedHeader.Qos > 1 {
		return errQoS2
	}
	topic := pk.TopicName
	key := c.id.Key
	c.s.hub.Touch(key)
	if bag, ok := eventsBag(key, topic); ok {
		if len(pk.Payload) > c.s.opts.MaxMessageSize {
			return errTooLarge
		}
		if err := c.s.hub.Telemetry(ctx, key, telemetryMessage(pk.Payload, bag, pk.FixedHeader.Retain)); err != nil {
			return fmt.Errorf("devicemqtt: storing telemetry: %w", err)
		}
		c.ack(pk)
		return nil
	}
	switch {
	case strings.HasPrefix(topic, topicMethodsRes):
		status, rid, ok := methodResponse(topic)
		if ok {
			c.mu.Lock()
			ch := c.methods[rid]
			delete(c.methods, rid)
			c.mu.Unlock()
			if ch != nil {
				ch <- methodAnswer{status: status, payload: append(json.RawMessage(nil), pk.Payload...)}
			}
		}
	case strings.HasPrefix(topic, topicTwinGET):
		c.twinGet(requestID(topic))
	case strings.HasPrefix(topic, topicTwinReported):
		c.twinReported(requestID(topic), pk.Payload)
	default:
		return fmt.Errorf("%w: %q", errForeignTopic, topic)
	}
	c.ack(pk)
	return nil
}

// ack answers a QoS 1 PUBLISH.
func (c *conn) ack(pk *packets.Packet) {
	if pk.FixedHeader.Qos == 1 {
		c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	}
}

// telemetryMessage reads a telemetry PUBLISH.
func telemetryMessage(payload []byte, bag string, retain bool) *Message {
	m := &Message{Body: append([]byte(nil), payload...)}
	for k, v := range parseBag(bag) {
		switch k {
		case "$.mid":
			m.MessageID = v
		case "$.cid":
			m.CorrelationID = v
		case "$.uid":
			m.UserID = v
		case "$.to":
			m.To = v
		case "$.ct":
			m.ContentType = v
		case "$.ce":
			m.ContentEncoding = v
		case "$.ctime":
			m.CreationUTC = v
		default:
			if strings.HasPrefix(k, "$.") {
				continue // a system property the hub sets itself, or unknown
			}
			if m.Properties == nil {
				m.Properties = map[string]string{}
			}
			m.Properties[k] = v
		}
	}
	if retain {
		if m.Properties == nil {
			m.Properties = map[string]string{}
		}
		m.Properties["mqtt-retain"] = "true"
	}
	return m
}

// subscribe serves a SUBSCRIBE: the device's own topics are granted (QoS 2
// as 1), others refused (0x80).
func (c *conn) subscribe(pk *packets.Packet) error {
	codes := make([]byte, len(pk.Filters))
	c.mu.Lock()
	for i, f := range pk.Filters {
		granted := min(f.Qos, 1)
		switch f.Filter {
		case c2dFilter(c.id.Key):
			c.subs.c2d = true
		case filterMethods:
			c.subs.methods, granted = true, 0
		case filterTwinRes:
			c.subs.twinRes, granted = true, 0
		case filterTwinDesired:
			c.subs.desired, granted = true, 0
		default:
			granted = 0x80
		}
		if granted != 0x80 && f.Qos < granted {
			granted = f.Qos
		}
		codes[i] = granted
	}
	c.mu.Unlock()
	// The session layer knows first: a device that has its SUBACK can be
	// called at once.
	c.applySubscriptions()
	c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, PacketID: pk.PacketID, ReasonCodes: codes})
	return nil
}

func (c *conn) unsubscribe(pk *packets.Packet) error {
	c.mu.Lock()
	for _, f := range pk.Filters {
		switch f.Filter {
		case c2dFilter(c.id.Key):
			c.subs.c2d = false
		case filterMethods:
			c.subs.methods = false
		case filterTwinRes:
			c.subs.twinRes = false
		case filterTwinDesired:
			c.subs.desired = false
		}
	}
	c.mu.Unlock()
	c.applySubscriptions()
	c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, PacketID: pk.PacketID})
	return nil
}

// applySubscriptions tells the session layer what the device takes, and
// starts or stops the C2D pump.
func (c *conn) applySubscriptions() {
	c.mu.Lock()
	subs, session := c.subs, c.session
	var start context.Context
	if subs.c2d && c.c2dCancel == nil {
		var cancel context.CancelFunc
		start, cancel = context.WithCancel(context.Background())
		c.c2dCancel = cancel
	} else if !subs.c2d && c.c2dCancel != nil {
		c.c2dCancel()
		c.c2dCancel = nil
	}
	c.mu.Unlock()
	c.s.hub.Sessions().Subscribe(session, subs.methods, subs.desired)
	if start != nil {
		go c.pumpC2D(start)
	}
}

// pumpC2D delivers the identity's C2D queue, one message at a time: QoS 1,
// completed on PUBACK, abandoned when the connection ends first.
func (c *conn) pumpC2D(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	key := c.id.Key
	for {
		m, err := c.s.hub.ReceiveC2D(ctx, key)
		if err != nil {
			return
		}
		f := &inflightC2D{lockToken: m.LockToken, acked: make(chan struct{})}
		c.mu.Lock()
		c.nextPID++
		if c.nextPID == 0 {
			c.nextPID = 1
		}
		pid := c.nextPID
		c.inflight[pid] = f
		c.mu.Unlock()
		bag := map[string]string{"$.mid": m.MessageID, "$.to": m.To, "iothub-ack": string(m.Ack)}
		if m.To == "" {
			bag["$.to"] = "/" + strings.TrimSuffix(identityPrefix(key), "/") + "/messages/deviceBound"
		}
		for k, v := range map[string]string{"$.cid": m.CorrelationID, "$.uid": m.UserID, "$.ct": m.ContentType, "$.ce": m.ContentEncoding} {
			if v != "" {
				bag[k] = v
			}
		}
		if !m.ExpiryTime.IsZero() {
			bag["$.exp"] = m.ExpiryTime.UTC().Format(time.RFC3339Nano)
		}
		for k, v := range m.Properties {
			bag[k] = v
		}
		c.write(&packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
			TopicName:   identityPrefix(key) + messagesDevicebound + formatBag(bag),
			PacketID:    pid, Payload: m.Body,
		})
		select {
		case <-f.acked:
			_ = c.s.hub.SettleC2D(key, f.lockToken, Complete)
			c.s.hub.Touch(key)
		case <-c.done:
			_ = c.s.hub.SettleC2D(key, f.lockToken, Abandon)
			return
		}
	}
}

// twinGet answers $iothub/twin/GET.
func (c *conn) twinGet(rid string) {
	body, err := c.s.hub.DeviceTwin(c.id.Key)
	if err != nil {
		c.twinAnswer(sessions.ErrorStatus(err), rid, 0, sessions.ErrorBody(err))
		return
	}
	c.twinAnswer(200, rid, 0, body)
}

// twinReported answers $iothub/twin/PATCH/properties/reported.
func (c *conn) twinReported(rid string, patch []byte) {
	version, err := c.s.hub.UpdateReported(c.id.Key, patch)
	if err != nil {
		c.twinAnswer(sessions.ErrorStatus(err), rid, 0, sessions.ErrorBody(err))
		return
	}
	c.twinAnswer(204, rid, version, nil)
}

// twinAnswer publishes a twin response, to a device subscribed to them.
func (c *conn) twinAnswer(status int, rid string, version int64, body []byte) {
	c.mu.Lock()
	subscribed := c.subs.twinRes
	c.mu.Unlock()
	if !subscribed {
		return
	}
	c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: twinResponseTopic(status, rid, version), Payload: body})
}

// InvokeMethod implements sessions.Endpoint: it publishes the request and
// waits for the device's answer.
func (c *conn) InvokeMethod(ctx context.Context, name string, payload json.RawMessage) (int, json.RawMessage, error) {
	rid := strconv.FormatUint(c.rid.Add(1), 16)
	ch := make(chan methodAnswer, 1)
	c.mu.Lock()
	c.methods[rid] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.methods, rid)
		c.mu.Unlock()
	}()
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: methodRequestTopic(name, rid), Payload: payload})
	select {
	case a := <-ch:
		return a.status, sessions.MethodPayload(a.payload), nil
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-c.done:
		return 0, nil, errClientDisconns
	}
}

// DesiredPropertiesChanged implements sessions.Endpoint: the patch, with
// its "$version", goes to the device in order, without blocking.
func (c *conn) DesiredPropertiesChanged(patch map[string]any, version int64) {
	b, err := sessions.DesiredJSON(patch, version)
	if err != nil {
		return
	}
	c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: desiredTopic(version), Payload: b})
}

// Closed implements sessions.Endpoint: the hub ended the session.
func (c *conn) Closed(reason error) {
	c.close(reason)
}

// write encodes pk and queues it for the writer; a device whose queue is
// full is disconnected.
func (c *conn) write(pk *packets.Packet) {
	if pk.ProtocolVersion == 0 {
		pk.ProtocolVersion = protocolLevel
	}
	var buf bytes.Buffer
	if err := encode(pk, &buf); err != nil {
		c.s.opts.Logger.Debug("devicemqtt: encoding", "error", err.Error())
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	select {
	case c.out <- buf.Bytes():
	case <-c.done:
	default:
		go c.close(errSlowReader)
	}
}

func encode(pk *packets.Packet, buf *bytes.Buffer) error {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		return pk.ConnackEncode(buf)
	case packets.Publish:
		return pk.PublishEncode(buf)
	case packets.Puback:
		return pk.PubackEncode(buf)
	case packets.Suback:
		return pk.SubackEncode(buf)
	case packets.Unsuback:
		return pk.UnsubackEncode(buf)
	case packets.Pingresp:
		return pk.PingrespEncode(buf)
	}
	return fmt.Errorf("packet type %d is not sent", pk.FixedHeader.Type)
}

// writer writes queued packets in order until the connection ends.
func (c *conn) writer() {
	defer close(c.writerEnd)
	w := bufio.NewWriterSize(c.nc, 16<<10)
	for {
		select {
		case b := <-c.out:
			if _, err := w.Write(b); err != nil {
				go c.close(err)
				return
			}
			// Flush once the queue is empty: packets queued together go out
			// in one write.
			if len(c.out) == 0 {
				if err := w.Flush(); err != nil {
					go c.close(err)
					return
				}
			}
		case <-c.done:
			return
		}
	}
}

// close ends the connection once: the session is ended, pending method
// calls fail, a C2D message in flight is abandoned (by its pump), and a
// CleanSession 0 device's subscriptions are kept for its return.
func (c *conn) close(reason error) {
	c.closeOnce.Do(func() {
		if reason != nil {
			c.closeErr.Store(&reason)
		}
		close(c.done)
		_ = c.nc.Close()
		c.mu.Lock()
		session := c.session
		c.mu.Unlock()
		if session == nil {
			return
		}
		c.s.hub.Sessions().Disconnect(session)
		c.mu.Lock()
		subs := c.subs
		if c.c2dCancel != nil {
			c.c2dCancel()
			c.c2dCancel = nil
		}
		c.mu.Unlock()
		if !c.clean && !errors.Is(reason, sessions.ErrReplaced) {
			c.s.keep(c.id.Key, subs)
		}
		c.s.opts.Logger.Debug("devicemqtt: connection closed", "device", c.id.Key.DeviceID, "module", c.id.Key.ModuleID, "reason", fmt.Sprint(reason))
	})
}
