package devicebound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// Defaults of Options, the hub's own limits.
const (
	DefaultMaxDepth         = 50
	DefaultMaxMessageSize   = 64 * 1024
	DefaultTTL              = time.Hour
	DefaultMaxDeliveryCount = 10
	DefaultLockTimeout      = time.Minute
)

// Errors of Enqueue and of the device-side calls.
var (
	ErrDeviceNotFound = errors.New("devicebound: device not found")
	ErrModuleNotFound = errors.New("devicebound: module not found")
	ErrQueueFull      = errors.New("devicebound: the device's queue is full")
	ErrTooLarge       = errors.New("devicebound: the message is too large")
	ErrLockLost       = errors.New("devicebound: the message lock was lost or the message settled")
	ErrClosed         = errors.New("devicebound: closed")
)

// Ack is the feedback a message asks for (its iothub-ack property).
type Ack string

// Acks.
const (
	AckNone     Ack = "none"
	AckPositive Ack = "positive"
	AckNegative Ack = "negative"
	AckFull     Ack = "full"
)

// Message is a cloud-to-device message in a queue.
type Message struct {
	MessageID       string
	CorrelationID   string
	UserID          string
	To              string
	ContentType     string
	ContentEncoding string
	Body            []byte
	Properties      map[string]string
	Ack             Ack
	EnqueuedTime    time.Time
	ExpiryTime      time.Time

	// Set when the message is handed to a device.
	LockToken     string
	DeliveryCount int

	lockedUntil time.Time
	generation  string
	id          uint64 // the hub's own, stable across restarts: its key in the DB
	order       int64  // its place in the queue, kept in the DB: lower is nearer the head
}

// Key names a device (ModuleID empty) or module queue.
type Key struct{ DeviceID, ModuleID string }

// Options configure a Hub.
type Options struct {
	// Lookup returns the generation id of an identity, or ErrDeviceNotFound
	// / ErrModuleNotFound. Required.
	Lookup func(k Key) (generationID string, err error)
	// OnCount, when set, is told each queue's new depth (the registry's
	// cloudToDeviceMessageCount), and at Open the depth of every queue the
	// DB kept. It is called under the Hub's lock and must not call the Hub.
	OnCount func(k Key, depth int)
	// DB is the state directory the queues, the feedback and the file
	// notifications are kept in, to be found there again by Open after a
	// restart. Use Open, not New, with a DB. Default: nil (nothing is kept).
	DB *persist.DB
	// MaxDepth, MaxMessageSize, DefaultTTL, MaxDeliveryCount, LockTimeout:
	// the hub's limits. Defaults: the Default… constants.
	MaxDepth         int
	MaxMessageSize   int
	DefaultTTL       time.Duration
	MaxDeliveryCount int
	LockTimeout      time.Duration
	// FeedbackBatchSize and FeedbackInterval: a feedback batch is released
	// at this many records or this long after its first record.
	// Defaults: 64 and 1 s.
	FeedbackBatchSize int
	FeedbackInterval  time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

type queue struct {
	ready  []*Message          // in order
	locked map[string]*Message // by lock token
	wake   chan struct{}       // closed and replaced when a message becomes ready

	// The next order at the tail is next; at the head, first-1. The head
	// may go below zero: an abandoned message goes back before the rest.
	first, next int64
	prefix      []byte // the keys of the queue's messages start with it
}

// Hub holds every device queue of one emulated hub.
type Hub struct {
	opts Options
	db   *persist.DB

	mu     sync.Mutex
	queues map[Key]*queue
	nextID uint64
	closed bool

	feedback *feedback // guarded by mu, but for its outbox
	files    *outbox

	stop     chan struct{}
	wg       sync.WaitGroup // the janitor
	settling sync.WaitGroup // goroutines that settle a service's send once it is on disk
}

// Open returns a Hub with the queues, feedback and file notifications that
// opts.DB kept, and starts its janitor, which expires messages and locks;
// Close stops it. Messages the DB kept are ready in their order (a restart
// ends every lock, as a lock time-out would, keeping the delivery count),
// and those that expired or used up their deliveries meanwhile produce
// their feedback; OnCount is told each kept queue's depth. Open fails when
// the DB cannot be read or holds a record it does not understand.
func Open(opts Options) (*Hub, error) {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.DefaultTTL <= 0 {
		opts.DefaultTTL = DefaultTTL
	}
	if opts.MaxDeliveryCount <= 0 {
		opts.MaxDeliveryCount = DefaultMaxDeliveryCount
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.FeedbackBatchSize <= 0 {
		opts.FeedbackBatchSize = 64
	}
	if opts.FeedbackInterval <= 0 {
		opts.FeedbackInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Hub{opts: opts, db: opts.DB, queues: map[Key]*queue{}, stop: make(chan struct{})}
	h.feedback = newFeedback(opts.FeedbackBatchSize, opts.FeedbackInterval, opts.Now, opts.DB)
	h.files = newOutbox(opts.DB, bucketFileOutbox)
	if err := h.load(); err != nil {
		return nil, err
	}
	h.wg.Add(1)
	go h.janitor()
	return h, nil
}

// New is Open for a Hub without a DB, which cannot fail. With opts.DB set
// it panics if Open fails.
func New(opts Options) *Hub {
	h, err := Open(opts)
	if err != nil {
		panic(err)
	}
	return h
}

// Close stops the janitor and wakes every waiting receiver with ErrClosed.
// It does not close the DB, which the caller closes after it.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for _, q := range h.queues {
		close(q.wake)
		q.wake = make(chan struct{})
	}
	h.mu.Unlock()
	close(h.stop)
	h.wg.Wait()
	h.settling.Wait()
	h.feedback.out.close()
	h.files.close()
}

func (h *Hub) queueLocked(k Key) *queue {
	q := h.queues[k]
	if q == nil {
		q = &queue{locked: map[string]*Message{}, wake: make(chan struct{})}
		if h.db != nil {
			q.prefix = queuePrefix(k)
		}
		h.queues[k] = q
	}
	return q
}

func (q *queue) depth() int { return len(q.ready) + len(q.locked) }

func (q *queue) wakeLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

func (h *Hub) countLocked(k Key, q *queue) {
	if h.opts.OnCount != nil {
		h.opts.OnCount(k, q.depth())
	}
}

// Enqueue adds m to the queue of k, applying the hub's rules: the identity
// must exist, the encoded size (size) must not pass the limit, the queue
// must have room. A zero ExpiryTime gets the default time to live. With a
// DB, Enqueue returns once the message is on disk.
func (h *Hub) Enqueue(k Key, m *Message, size int) error {
	p, err := h.enqueue(k, m, size, false)
	if err != nil {
		return err
	}
	return h.enqueued(k, m, p)
}

// enqueue is Enqueue up to handing the message to the DB; enqueued waits
// for the disk. With settling, the caller will wait on another goroutine,
// which Close waits for (counted under mu, so never after Close began).
func (h *Hub) enqueue(k Key, m *Message, size int, settling bool) (persist.Pending, error) {
	if size > h.opts.MaxMessageSize {
		return persist.Pending{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, size, h.opts.MaxMessageSize)
	}
	gen, err := h.opts.Lookup(k)
	if err != nil {
		return persist.Pending{}, err
	}
	now := h.opts.Now()
	m.EnqueuedTime, m.generation = now, gen
	if m.ExpiryTime.IsZero() {
		m.ExpiryTime = now.Add(h.opts.DefaultTTL)
	}
	m.ExpiryTime = keepable(m.ExpiryTime)
	if m.Ack == "" {
		m.Ack = AckNone
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return persist.Pending{}, ErrClosed
	}
	q := h.queueLocked(k)
	if q.depth() >= h.opts.MaxDepth {
		return persist.Pending{}, fmt.Errorf("%w: %d messages are queued for %s, the limit is %d", ErrQueueFull, q.depth(), describe(k), h.opts.MaxDepth)
	}
	m.id, h.nextID = h.nextID, h.nextID+1
	m.order, q.next = q.next, q.next+1
	q.ready = append(q.ready, m)
	q.wakeLocked()
	h.countLocked(k, q)
	var c changes
	h.keepLocked(&c, q, m)
	if settling {
		h.settling.Add(1)
	}
	return h.commitLocked(&c), nil
}

// enqueued waits until m is on disk. If it cannot get there, m leaves its
// queue again, if no device took it meanwhile, so that the sender, told of
// the failure, does not see it delivered.
func (h *Hub) enqueued(k Key, m *Message, p persist.Pending) error {
	err := p.Wait(context.Background())
	if err == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.queues[k]; q != nil {
		if i := slices.Index(q.ready, m); i >= 0 {
			q.ready = slices.Delete(q.ready, i, i+1)
			h.countLocked(k, q)
		}
	}
	return fmt.Errorf("devicebound: keeping the message: %w", err)
}

func describe(k Key) string {
	if k.ModuleID == "" {
		return "device '" + k.DeviceID + "'"
	}
	return "module '" + k.ModuleID + "' of device '" + k.DeviceID + "'"
}

// Receive hands the device the oldest ready message of its queue, locked
// until it is completed, rejected or abandoned (or the lock times out),
// waiting for one until ctx ends. With a DB, the message's new delivery
// count is on disk before Receive returns it.
func (h *Hub) Receive(ctx context.Context, k Key) (*Message, error) {
	for {
		m, wake, err := h.take(k)
		if m != nil || err != nil {
			return m, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// TryReceive is Receive without the wait, for a device that polls (HTTPS):
// the oldest ready message, locked, or nil when none is ready.
func (h *Hub) TryReceive(k Key) (*Message, error) {
	m, _, err := h.take(k)
	return m, err
}

// take locks the oldest ready message of k's queue and returns a copy of
// it, or, with none ready, the channel that is closed when one may be.
func (h *Hub) take(k Key) (*Message, <-chan struct{}, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, nil, ErrClosed
	}
	var c changes
	q := h.queueLocked(k)
	h.expireLocked(&c, k, q, h.opts.Now())
	if len(q.ready) == 0 {
		h.commitLocked(&c)
		wake := q.wake
		h.mu.Unlock()
		return nil, wake, nil
	}
	m := q.ready[0]
	q.ready = q.ready[1:]
	m.DeliveryCount++
	m.LockToken = newToken()
	m.lockedUntil = h.opts.Now().Add(h.opts.LockTimeout)
	q.locked[m.LockToken] = m
	h.keepLocked(&c, q, m)
	p := h.commitLocked(&c)
	cp := *m
	h.mu.Unlock()
	// The message is the device's now: an ending ctx does not undo the
	// delivery, so the write is awaited to the end.
	if err := p.Wait(context.Background()); err != nil {
		return nil, nil, fmt.Errorf("devicebound: keeping the delivery: %w", err)
	}
	return &cp, nil, nil
}

// Complete removes a locked message: delivered (feedback Success).
func (h *Hub) Complete(k Key, lockToken string) error {
	return h.settle(k, lockToken, StatusSuccess)
}

// Reject removes a locked message: refused by the device (feedback Rejected).
func (h *Hub) Reject(k Key, lockToken string) error {
	return h.settle(k, lockToken, StatusRejected)
}

// Abandon puts a locked message back at the head of the queue, unless it
// has used up its deliveries (feedback DeliveryCountExceeded).
func (h *Hub) Abandon(k Key, lockToken string) error {
	return h.settle(k, lockToken, "")
}

// settle removes the message locked under lockToken with the feedback
// status, or with status "" requeues it, and, with a DB, returns once the
// change is on disk.
func (h *Hub) settle(k Key, lockToken, status string) error {
	h.mu.Lock()
	q := h.queues[k]
	if q == nil {
		h.mu.Unlock()
		return ErrLockLost
	}
	m := q.locked[lockToken]
	if m == nil {
		h.mu.Unlock()
		return ErrLockLost
	}
	delete(q.locked, lockToken)
	var c changes
	if status == "" {
		h.requeueLocked(&c, k, q, m)
	} else {
		h.dropLocked(&c, q, m)
		h.recordLocked(&c, m, k, status)
	}
	h.countLocked(k, q)
	p := h.commitLocked(&c)
	h.mu.Unlock()
	if err := p.Wait(context.Background()); err != nil {
		return fmt.Errorf("devicebound: keeping the settlement: %w", err)
	}
	return nil
}

func (h *Hub) requeueLocked(c *changes, k Key, q *queue, m *Message) {
	m.LockToken, m.lockedUntil = "", time.Time{}
	if m.DeliveryCount >= h.opts.MaxDeliveryCount {
		h.dropLocked(c, q, m)
		h.recordLocked(c, m, k, StatusDeliveryCountExceeded)
		return
	}
	q.first--
	m.order = q.first
	h.keepLocked(c, q, m)
	q.ready = append([]*Message{m}, q.ready...)
	q.wakeLocked()
}

// Purge removes every message queued for k, locked ones too, and returns
// how many it removed (feedback Purged), once that is on disk.
func (h *Hub) Purge(k Key) (int, error) {
	if _, err := h.opts.Lookup(k); err != nil {
		return 0, err
	}
	h.mu.Lock()
	q := h.queues[k]
	if q == nil {
		h.mu.Unlock()
		return 0, nil
	}
	n := q.depth()
	var c changes
	if h.db != nil && n > 0 {
		c.ops = append(c.ops, persist.DeletePrefix(bucketMessages, q.prefix))
	}
	for _, m := range q.ready {
		h.recordLocked(&c, m, k, StatusPurged)
	}
	for _, m := range q.locked {
		h.recordLocked(&c, m, k, StatusPurged)
	}
	q.ready, q.locked = nil, map[string]*Message{}
	h.countLocked(k, q)
	p := h.commitLocked(&c)
	h.mu.Unlock()
	if err := p.Wait(context.Background()); err != nil {
		return 0, fmt.Errorf("devicebound: keeping the purge: %w", err)
	}
	return n, nil
}

// Forget drops the queues of a deleted device and its modules, without
// feedback, and returns once that is on disk.
func (h *Hub) Forget(deviceID string) error {
	h.mu.Lock()
	found := false
	for k := range h.queues {
		if k.DeviceID == deviceID {
			delete(h.queues, k)
			found = true
		}
	}
	var p persist.Pending
	if found && h.db != nil {
		p = h.db.Write(persist.DeletePrefix(bucketMessages, devicePrefix(deviceID)))
	}
	h.mu.Unlock()
	if err := p.Wait(context.Background()); err != nil {
		return fmt.Errorf("devicebound: forgetting the queues of device '%s': %w", deviceID, err)
	}
	return nil
}

// Depth returns how many messages are queued for k, locked ones included.
func (h *Hub) Depth(k Key) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.queues[k]; q != nil {
		return q.depth()
	}
	return 0
}

// expireLocked drops expired messages and returns timed-out locks.
func (h *Hub) expireLocked(c *changes, k Key, q *queue, now time.Time) {
	changed := false
	for tok, m := range q.locked {
		if !now.Before(m.ExpiryTime) {
			delete(q.locked, tok)
			h.dropLocked(c, q, m)
			h.recordLocked(c, m, k, StatusExpired)
			changed = true
		} else if !now.Before(m.lockedUntil) {
			delete(q.locked, tok)
			h.requeueLocked(c, k, q, m)
			changed = true
		}
	}
	kept := q.ready[:0]
	for _, m := range q.ready {
		if !now.Before(m.ExpiryTime) {
			h.dropLocked(c, q, m)
			h.recordLocked(c, m, k, StatusExpired)
			changed = true
			continue
		}
		kept = append(kept, m)
	}
	clear(q.ready[len(kept):])
	q.ready = kept
	if changed {
		h.countLocked(k, q)
	}
}

// janitorInterval is how often expiries and lock time-outs are applied to
// queues nobody is reading.
const janitorInterval = 100 * time.Millisecond

func (h *Hub) janitor() {
	defer h.wg.Done()
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := h.opts.Now()
		h.mu.Lock()
		var c changes
		for k, q := range h.queues {
			h.expireLocked(&c, k, q, now)
		}
		h.feedback.flushDueLocked(&c)
		h.commitLocked(&c) // nobody waits for an answer
		h.mu.Unlock()
	}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
