// Package devicebound is the emulator's cloud-to-device messaging: the
// per-device queues with the hub's rules (depth, size, expiry, delivery
// count, locks), the delivery feedback they produce, the file-upload
// notifications, and the AMQP nodes the service side uses for all three
// (/messages/devicebound, /messages/serviceBound/feedback,
// /messages/serviceBound/filenotifications).
package devicebound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
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
}

// Key names a device (ModuleID empty) or module queue.
type Key struct{ DeviceID, ModuleID string }

// Options configure a Hub.
type Options struct {
	// Lookup returns the generation id of an identity, or ErrDeviceNotFound
	// / ErrModuleNotFound. Required.
	Lookup func(k Key) (generationID string, err error)
	// OnCount, when set, is told each queue's new depth (the registry's
	// cloudToDeviceMessageCount). It must not call the Hub.
	OnCount func(k Key, depth int)
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
}

// Hub holds every device queue of one emulated hub.
type Hub struct {
	opts Options

	mu     sync.Mutex
	queues map[Key]*queue
	closed bool

	feedback *feedback
	files    *outbox

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a Hub and starts its janitor, which expires messages and
// locks; Close stops it.
func New(opts Options) *Hub {
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
	h := &Hub{opts: opts, queues: map[Key]*queue{}, stop: make(chan struct{})}
	h.feedback = newFeedback(opts.FeedbackBatchSize, opts.FeedbackInterval, opts.Now)
	h.files = newOutbox()
	h.wg.Add(1)
	go h.janitor()
	return h
}

// Close stops the janitor and wakes every waiting receiver with ErrClosed.
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
	h.feedback.close()
	h.files.close()
}

func (h *Hub) queueLocked(k Key) *queue {
	q := h.queues[k]
	if q == nil {
		q = &queue{locked: map[string]*Message{}, wake: make(chan struct{})}
		h.queues[k] = q
	}
	return q
}

func (q *queue) depth() int { return len(q.ready) + len(q.locked) }

func (h *Hub) countLocked(k Key, q *queue) {
	if h.opts.OnCount != nil {
		h.opts.OnCount(k, q.depth())
	}
}

// Enqueue adds m to the queue of k, applying the hub's rules: the identity
// must exist, the encoded size (size) must not pass the limit, the queue
// must have room. A zero ExpiryTime gets the default time to live.
func (h *Hub) Enqueue(k Key, m *Message, size int) error {
	if size > h.opts.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, size, h.opts.MaxMessageSize)
	}
	gen, err := h.opts.Lookup(k)
	if err != nil {
		return err
	}
	now := h.opts.Now()
	m.EnqueuedTime, m.generation = now, gen
	if m.ExpiryTime.IsZero() {
		m.ExpiryTime = now.Add(h.opts.DefaultTTL)
	}
	if m.Ack == "" {
		m.Ack = AckNone
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	q := h.queueLocked(k)
	if q.depth() >= h.opts.MaxDepth {
		return fmt.Errorf("%w: %d messages are queued for %s, the limit is %d", ErrQueueFull, q.depth(), describe(k), h.opts.MaxDepth)
	}
	q.ready = append(q.ready, m)
	close(q.wake)
	q.wake = make(chan struct{})
	h.countLocked(k, q)
	return nil
}

func describe(k Key) string {
	if k.ModuleID == "" {
		return "device '" + k.DeviceID + "'"
	}
	return "module '" + k.ModuleID + "' of device '" + k.DeviceID + "'"
}

// Receive hands the device the oldest ready message of its queue, locked
// until it is completed, rejected or abandoned (or the lock times out),
// waiting for one until ctx ends.
func (h *Hub) Receive(ctx context.Context, k Key) (*Message, error) {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		q := h.queueLocked(k)
		h.expireLocked(k, q, h.opts.Now())
		if len(q.ready) > 0 {
			m := q.ready[0]
			q.ready = q.ready[1:]
			m.DeliveryCount++
			m.LockToken = newToken()
			m.lockedUntil = h.opts.Now().Add(h.opts.LockTimeout)
			q.locked[m.LockToken] = m
			cp := *m
			h.mu.Unlock()
			return &cp, nil
		}
		wake := q.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Complete removes a locked message: delivered (feedback Success).
func (h *Hub) Complete(k Key, lockToken string) error {
	return h.settle(k, lockToken, func(q *queue, m *Message) { h.recordLocked(m, k, StatusSuccess) })
}

// Reject removes a locked message: refused by the device (feedback Rejected).
func (h *Hub) Reject(k Key, lockToken string) error {
	return h.settle(k, lockToken, func(q *queue, m *Message) { h.recordLocked(m, k, StatusRejected) })
}

// Abandon puts a locked message back at the head of the queue, unless it
// has used up its deliveries (feedback DeliveryCountExceeded).
func (h *Hub) Abandon(k Key, lockToken string) error {
	return h.settle(k, lockToken, func(q *queue, m *Message) { h.requeueLocked(k, q, m) })
}

func (h *Hub) settle(k Key, lockToken string, fn func(q *queue, m *Message)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.queues[k]
	if q == nil {
		return ErrLockLost
	}
	m := q.locked[lockToken]
	if m == nil {
		return ErrLockLost
	}
	delete(q.locked, lockToken)
	fn(q, m)
	h.countLocked(k, q)
	return nil
}

func (h *Hub) requeueLocked(k Key, q *queue, m *Message) {
	m.LockToken, m.lockedUntil = "", time.Time{}
	if m.DeliveryCount >= h.opts.MaxDeliveryCount {
		h.recordLocked(m, k, StatusDeliveryCountExceeded)
		return
	}
	q.ready = append([]*Message{m}, q.ready...)
	close(q.wake)
	q.wake = make(chan struct{})
}

// Purge removes every message queued for k, locked ones too, and returns
// how many it removed (feedback Purged).
func (h *Hub) Purge(k Key) (int, error) {
	if _, err := h.opts.Lookup(k); err != nil {
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.queues[k]
	if q == nil {
		return 0, nil
	}
	n := q.depth()
	for _, m := range q.ready {
		h.recordLocked(m, k, StatusPurged)
	}
	for _, m := range q.locked {
		h.recordLocked(m, k, StatusPurged)
	}
	q.ready, q.locked = nil, map[string]*Message{}
	h.countLocked(k, q)
	return n, nil
}

// Forget drops the queues of a deleted device and its modules, without
// feedback.
func (h *Hub) Forget(deviceID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.queues {
		if k.DeviceID == deviceID {
			delete(h.queues, k)
		}
	}
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
func (h *Hub) expireLocked(k Key, q *queue, now time.Time) {
	changed := false
	for tok, m := range q.locked {
		if !now.Before(m.ExpiryTime) {
			delete(q.locked, tok)
			h.recordLocked(m, k, StatusExpired)
			changed = true
		} else if !now.Before(m.lockedUntil) {
			delete(q.locked, tok)
			h.requeueLocked(k, q, m)
			changed = true
		}
	}
	kept := q.ready[:0]
	for _, m := range q.ready {
		if !now.Before(m.ExpiryTime) {
			h.recordLocked(m, k, StatusExpired)
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
		for k, q := range h.queues {
			h.expireLocked(k, q, now)
		}
		h.mu.Unlock()
		h.feedback.flushDue()
	}
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
