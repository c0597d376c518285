package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("eventhubs: hub closed")

// DefaultAuthMethod is the iothub-connection-auth-method annotation of an
// event whose Event.AuthMethod is empty: a device that authenticated with a
// SAS token, as IoT Hub writes it.
const DefaultAuthMethod = `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`

// Event is a device-to-cloud message as a simulated device sends it.
type Event struct {
	// DeviceID is the sending device; it chooses the partition.
	DeviceID string
	// ModuleID is the sending module, if a module sent the event.
	ModuleID string
	// Body is the payload, sent as one AMQP data section.
	Body []byte
	// Properties are the application properties.
	Properties map[string]any
	// MessageID, CorrelationID, ContentType and ContentEncoding are the AMQP
	// message properties of the same names; empty ones are left out.
	MessageID, CorrelationID, ContentType, ContentEncoding string
	// AuthMethod is the iothub-connection-auth-method annotation.
	// Default: DefaultAuthMethod.
	AuthMethod string
	// AuthGenerationID is the iothub-connection-auth-generation-id
	// annotation: the device identity's generation id.
	AuthGenerationID string
}

// Hub is the Event Hub-compatible built-in endpoint of one emulated IoT
// hub: its partitions, consumer groups and the AMQP nodes serving them.
// Its methods are safe for concurrent use.
type Hub struct {
	opts       Options
	created    time.Time
	partitions []*partitionLog
	ids        []string

	// waitCommit waits for a write to Options.DB to be on disk: waitForCommit,
	// but a test can hold commits back to see what readers see meanwhile.
	waitCommit func(ctx context.Context, w persist.Pending) error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // delivery goroutines and showWhenCommitted

	mu    sync.Mutex
	slots map[slotKey]*slot // receivers per consumer group and partition
}

// Open returns a Hub. With Options.DB, it holds what a previous run kept
// there: the events still within retention (those that expired while the
// emulator was stopped are dropped from the state directory too), the
// numbering of every partition, the creation time and the consumer groups.
// Open fails with a *PartitionCountError when the stored hub has another
// partition count, and with a *CorruptStateError for a record it cannot
// read. Without a DB, the partitions start empty and Open does not fail.
func Open(opts *Options) (*Hub, error) {
	o := opts.withDefaults()
	h := &Hub{opts: o, waitCommit: waitForCommit, slots: make(map[slotKey]*slot)}
	for i := range o.Partitions {
		id := strconv.Itoa(i)
		h.ids = append(h.ids, id)
		h.partitions = append(h.partitions, newPartitionLog(id, o.Retention, o.MaxBytes, o.DB))
	}
	if o.DB == nil {
		h.created = o.Now().UTC().Truncate(time.Millisecond)
	} else if err := h.load(); err != nil {
		return nil, err
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

// New returns a Hub with empty partitions: Open for callers without
// Options.DB. It panics if Open fails, which only a DB can make it do.
func New(opts *Options) *Hub {
	h, err := Open(opts)
	if err != nil {
		panic(err)
	}
	return h
}

// EntityName is the Event Hub-compatible name of the hub.
func (h *Hub) EntityName() string { return h.opts.EntityName }

// PartitionIDs lists the partition ids, "0" to "N-1".
func (h *Hub) PartitionIDs() []string { return append([]string(nil), h.ids...) }

// ConsumerGroups lists the consumer groups, $Default first.
func (h *Hub) ConsumerGroups() []string { return append([]string(nil), h.opts.ConsumerGroups...) }

// PartitionFor returns the partition a device's events go to: the FNV-1a
// 32-bit hash of the device id's UTF-8 bytes, modulo the partition count.
// Every event of a device, and of its modules, goes to the same partition,
// which keeps them in order as IoT Hub does; which partition the real
// service picks for a device is not documented, so the choice here is only
// stable, not the service's.
func (h *Hub) PartitionFor(deviceID string) string {
	f := fnv.New32a()
	_, _ = f.Write([]byte(deviceID))
	return h.ids[f.Sum32()%uint32(len(h.ids))]
}

// Append stores a device's event in its partition and wakes the receivers
// reading there. It returns the partition and the sequence number given.
//
// With Options.DB, Append returns once the event is on disk, so a device
// is acknowledged only for events that survive a crash; concurrent appends
// share a commit. Readers see the event only then too: receivers,
// $management's partition properties, the runtime metric and start
// positions (@latest included) know only events on disk. A crash can
// lose an event not yet committed, and the restarted hub gives its
// sequence number and offset to another event, but no reader saw it, so
// none can have checkpointed it and skip its successor.
//
// When ctx ends first, Append returns ctx's error with the partition and
// sequence number, but the write goes on: the event becomes visible once
// it is on disk, so a device that sends it again may make a duplicate, as
// at-least-once delivery allows. When the disk fails, the error says so;
// neither that event nor any later one becomes visible.
func (h *Hub) Append(ctx context.Context, ev Event) (partition string, seq int64, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	if h.ctx.Err() != nil {
		return "", 0, ErrClosed
	}
	id := h.PartitionFor(ev.DeviceID)
	p := h.partitions[h.index(id)]
	now := h.opts.Now()
	p.mu.Lock()
	seq, offset, enqueued := p.reserveLocked(now)
	data, err := encodeEvent(&ev, seq, offset, enqueued)
	if err != nil {
		p.mu.Unlock()
		return "", 0, err
	}
	stored, upto := p.commitLocked(offset, enqueued, data, now)
	p.mu.Unlock()
	if p.db == nil {
		return id, seq, nil // visible already
	}
	if err := h.waitCommit(ctx, stored); err != nil {
		if ctx.Err() != nil {
			h.showWhenCommitted(p, stored, upto)
		}
		return id, seq, fmt.Errorf("eventhubs: event %d of partition %s may not be on disk: %w", seq, id, err)
	}
	p.show(upto)
	return id, seq, nil
}

// showWhenCommitted shows an event to readers once its write is on disk,
// for an Append whose caller stopped waiting: without it, the event would
// stay hidden until a later append of the partition is committed. It gives
// up when the hub closes.
func (h *Hub) showWhenCommitted(p *partitionLog, w persist.Pending, upto counters) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ctx.Err() != nil {
		return // Close may be waiting on h.wg already
	}
	h.wg.Go(func() {
		if h.waitCommit(h.ctx, w) == nil {
			p.show(upto)
		}
	})
}

func waitForCommit(ctx context.Context, w persist.Pending) error { return w.Wait(ctx) }

// encodeEvent builds the AMQP message a consumer receives, annotations
// included, and encodes it once.
func encodeEvent(ev *Event, seq, offset, enqueued int64) ([]byte, error) {
	t := time.UnixMilli(enqueued).UTC()
	authMethod := ev.AuthMethod
	if authMethod == "" {
		authMethod = DefaultAuthMethod
	}
	ann := amqp.Annotations{
		amqp.Symbol("x-opt-sequence-number"):                seq,
		amqp.Symbol("x-opt-offset"):                         strconv.FormatInt(offset, 10),
		amqp.Symbol("x-opt-enqueued-time"):                  t,
		amqp.Symbol("iothub-connection-device-id"):          ev.DeviceID,
		amqp.Symbol("iothub-connection-auth-method"):        authMethod,
		amqp.Symbol("iothub-connection-auth-generation-id"): ev.AuthGenerationID,
		amqp.Symbol("iothub-enqueuedtime"):                  t,
		amqp.Symbol("iothub-message-source"):                "Telemetry",
	}
	if ev.ModuleID != "" {
		ann[amqp.Symbol("iothub-connection-module-id")] = ev.ModuleID
	}
	msg := &amqp.Message{Data: [][]byte{ev.Body}, Annotations: ann}
	if ev.MessageID != "" || ev.CorrelationID != "" || ev.ContentType != "" || ev.ContentEncoding != "" {
		msg.Properties = &amqp.MessageProperties{}
		if ev.MessageID != "" {
			msg.Properties.MessageID = ev.MessageID
		}
		if ev.CorrelationID != "" {
			msg.Properties.CorrelationID = ev.CorrelationID
		}
		if ev.ContentType != "" {
			msg.Properties.ContentType = &ev.ContentType
		}
		if ev.ContentEncoding != "" {
			msg.Properties.ContentEncoding = &ev.ContentEncoding
		}
	}
	if len(ev.Properties) > 0 {
		msg.ApplicationProperties = ev.Properties
	}
	return msg.MarshalBinary()
}

// partition returns the partition with id, or nil.
func (h *Hub) partition(id string) *partitionLog {
	i := h.index(id)
	if i < 0 {
		return nil
	}
	return h.partitions[i]
}

func (h *Hub) index(id string) int {
	n, err := strconv.Atoi(id)
	if err != nil || n < 0 || n >= len(h.partitions) || strconv.Itoa(n) != id {
		return -1
	}
	return n
}

// consumerGroup returns the canonical name of a consumer group, matched
// case-insensitively, and false when there is no such group.
func (h *Hub) consumerGroup(name string) (string, bool) {
	for _, g := range h.opts.ConsumerGroups {
		if strings.EqualFold(g, name) {
			return g, true
		}
	}
	return "", false
}

func (h *Hub) isEntity(name string) bool { return strings.EqualFold(name, h.opts.EntityName) }

// authorize runs Options.Authorize.
func (h *Hub) authorize(c *amqpserver.Conn, address string) error {
	if h.opts.Authorize == nil {
		return nil
	}
	return h.opts.Authorize(c, address)
}

// authorizeAttach runs Options.AuthorizeLink, or Authorize without it, and
// turns a refusal into the attach's error.
func (h *Hub) authorizeAttach(l *amqpserver.OutgoingLink) error {
	var err error
	if h.opts.AuthorizeLink != nil {
		err = h.opts.AuthorizeLink(l.Link)
	} else {
		err = h.authorize(l.Conn(), l.Address())
	}
	if err == nil {
		return nil
	}
	var e *amqpserver.Error
	if errors.As(err, &e) {
		return e
	}
	return &amqpserver.Error{Condition: amqpserver.CondUnauthorizedAccess, Description: err.Error()}
}

// Register adds the hub's nodes to srv: partition receivers at
// "<entity>/ConsumerGroups/<cg>/Partitions/<id>", the management node at
// "$management" (where azeventhubs sends its requests) and
// "<entity>/$management", and the IoT Hub redirect at "messages/events…".
func (h *Hub) Register(srv *amqpserver.Server) error {
	mgmt := amqpserver.NewRequestResponseNode(h.serveManagement)
	routes := []struct {
		pattern string
		node    *amqpserver.Node
	}{
		{"{entity}/ConsumerGroups/{cg}/Partitions/{pid}", &amqpserver.Node{Outgoing: h.attachReceiver}},
		{"$management", mgmt},
		{"{entity}/$management", mgmt},
		{"messages/events", &amqpserver.Node{Outgoing: h.redirect}},
		{"messages/events/", &amqpserver.Node{Outgoing: h.redirect}},
		{"messages/events/{rest...}", &amqpserver.Node{Outgoing: h.redirect}},
	}
	for _, r := range routes {
		if err := srv.Handle(r.pattern, r.node); err != nil {
			return err
		}
	}
	return nil
}

// Close stops delivering events and waits for the delivery goroutines to
// end. Attached receivers are detached with amqp:link:detach-forced; later
// Appends fail with ErrClosed. Close leaves Options.DB open: close it after
// the hub, and it commits what the hub handed it.
func (h *Hub) Close() error {
	h.cancel()
	h.DetachReceivers(amqpserver.CondLinkDetachForced, "The event hub is shutting down.")
	h.wg.Wait()
	return nil
}
