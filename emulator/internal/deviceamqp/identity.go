package deviceamqp

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// errLinkGone fails what waits on a link that detached.
var errLinkGone = errors.New("deviceamqp: the device's link detached")

// identity is one device or module on one AMQP connection: its links and
// its session with the hub. It implements sessions.Endpoint.
type identity struct {
	fe   *frontEnd
	conn *amqpserver.Conn
	key  sessions.Key

	mu      sync.Mutex
	session *sessions.Session
	closed  bool // the hub ended the session
	links   map[*amqpserver.Link]struct{}

	// methodsOut are the links the device receives method requests on,
	// methodsIn those it answers on, both by channel correlation id.
	methodsOut map[string]*outQueue
	methodsIn  map[string]*amqpserver.Link
	// calls are the method requests waiting for an answer, by
	// correlation id.
	calls map[string]chan methodAnswer
	// twinOut are the links the device receives twin answers and desired
	// updates on; desired is whether it asked for those updates (a PUT on
	// the twin link), which ends with the links.
	twinOut map[string]*outQueue
	desired bool
}

func newIdentity(fe *frontEnd, c *amqpserver.Conn, key sessions.Key) *identity {
	return &identity{
		fe: fe, conn: c, key: key,
		links:      map[*amqpserver.Link]struct{}{},
		methodsOut: map[string]*outQueue{},
		methodsIn:  map[string]*amqpserver.Link{},
		calls:      map[string]chan methodAnswer{},
		twinOut:    map[string]*outQueue{},
	}
}

// channelID is a link's com.microsoft:channel-correlation-id, which pairs
// the sender and the receiver of the method and twin links.
func channelID(l *amqpserver.Link) string {
	v, _ := l.Property("com.microsoft:channel-correlation-id")
	s, _ := v.(string)
	return s
}

// leave drops a link that ended; the identity's last link disconnects it.
func (id *identity) leave(l *amqpserver.Link) {
	id.mu.Lock()
	if _, ok := id.links[l]; !ok {
		id.mu.Unlock()
		return
	}
	delete(id.links, l)
	ch := channelID(l)
	if q := id.methodsOut[ch]; q != nil && q.link.Link == l {
		delete(id.methodsOut, ch)
	}
	if id.methodsIn[ch] == l {
		delete(id.methodsIn, ch)
	}
	if q := id.twinOut[ch]; q != nil && q.link.Link == l {
		delete(id.twinOut, ch)
		if len(id.twinOut) == 0 {
			id.desired = false
		}
	}
	last := len(id.links) == 0 && !id.closed
	s := id.session
	id.mu.Unlock()
	if last {
		id.fe.forget(id)
		if s != nil {
			id.fe.hub.Sessions().Disconnect(s)
		}
		return
	}
	id.resubscribe()
}

// resubscribe tells the hub what the identity's links now receive: direct
// methods once it has a method link pair, desired-property updates once it
// asked for them on a twin link.
func (id *identity) resubscribe() {
	id.mu.Lock()
	s := id.session
	methods := len(id.methodsOut) > 0 && len(id.methodsIn) > 0
	desired := id.desired && len(id.twinOut) > 0
	closed := id.closed
	id.mu.Unlock()
	if s != nil && !closed {
		id.fe.hub.Sessions().Subscribe(s, methods, desired)
	}
}

// Closed implements sessions.Endpoint: the hub ended the session (the
// identity connected elsewhere, was disabled or deleted, or the emulator
// stops), so its links on this connection are detached.
func (id *identity) Closed(reason error) {
	id.mu.Lock()
	id.closed = true
	links := make([]*amqpserver.Link, 0, len(id.links))
	for l := range id.links {
		links = append(links, l)
	}
	id.mu.Unlock()
	id.fe.forget(id)
	e := &amqpserver.Error{Condition: amqpserver.CondUnauthorizedAccess, Description: reason.Error()}
	if errors.Is(reason, sessions.ErrReplaced) {
		e.Condition = amqpserver.CondLinkStolen
	}
	for _, l := range links {
		_ = l.Detach(e)
	}
}

// DesiredPropertiesChanged implements sessions.Endpoint: the patch, with
// its "$version", goes out on the twin links without a correlation-id, in
// order, without blocking.
func (id *identity) DesiredPropertiesChanged(patch map[string]any, version int64) {
	b, err := sessions.DesiredJSON(patch, version)
	if err != nil {
		return
	}
	msg := &amqp.Message{Data: [][]byte{b}, Annotations: amqp.Annotations{"version": version}}
	id.mu.Lock()
	qs := make([]*outQueue, 0, len(id.twinOut))
	if id.desired {
		for _, q := range id.twinOut {
			qs = append(qs, q)
		}
	}
	id.mu.Unlock()
	for _, q := range qs {
		q.push(msg)
	}
}

// corrKey is a correlation id as the answers are matched by: uuids,
// binary and strings alike as lower-case text, so that a device that
// echoes a uuid as its string form (the Node SDK does) still matches.
func corrKey(v any) string {
	switch id := v.(type) {
	case []byte:
		if len(id) == 16 {
			var u amqp.UUID
			copy(u[:], id)
			return u.String()
		}
	}
	return strings.ToLower(devicebound.IDString(v))
}

// outQueue sends the messages of one outgoing link in order, so that
// notifications never wait on a slow device inside the hub.
type outQueue struct {
	link  *amqpserver.OutgoingLink
	queue *fifo[*amqp.Message]
}

// newOutQueue starts sending on l until it detaches.
func newOutQueue(l *amqpserver.OutgoingLink) *outQueue {
	q := &outQueue{link: l, queue: newFIFO[*amqp.Message]()}
	l.Go(q.run)
	return q
}

// maxQueued bounds what a link that grants no credit can hold back; past
// it the device is too slow to be served and its link is detached.
const maxQueued = 1024

func (q *outQueue) push(m *amqp.Message) {
	if q.queue.len() >= maxQueued {
		_ = q.link.Detach(&amqpserver.Error{Condition: amqpserver.CondResourceLimitExceeded, Description: "the device grants no credit for the messages the hub has for it"})
		return
	}
	q.queue.push(m)
}

func (q *outQueue) run(ctx context.Context) {
	for {
		m, ok := q.queue.pop(ctx)
		if !ok {
			return
		}
		if _, err := q.link.Send(ctx, m, nil); err != nil {
			return
		}
	}
}
