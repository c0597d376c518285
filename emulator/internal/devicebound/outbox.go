package devicebound

import (
	"context"
	"sync"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/iotkit-go/iothub/emulator/internal/persist"
)

// outbox holds service-bound messages (feedback batches, file
// notifications) until a receiver link takes and accepts them. A message
// released or modified by the receiver, or in flight on a link that ends,
// goes back to the front to be delivered again; a rejected one is dropped.
// With a DB, each message is kept in the outbox's bucket from when it is
// added until it is accepted or rejected.
type outbox struct {
	db     *persist.DB
	bucket string

	mu      sync.Mutex
	items   []outItem
	nextKey uint64 // the key of the next message added
	wake    chan struct{}
	closed  bool
}

// outItem is a message of an outbox.
type outItem struct {
	key     uint64
	payload []byte          // the AMQP message, encoded; never modified
	written persist.Pending // its write to the DB
}

func newOutbox(db *persist.DB, bucket string) *outbox {
	return &outbox{db: db, bucket: bucket, wake: make(chan struct{})}
}

// add appends payloads (encoded AMQP messages) and hands them to the DB in
// one write after ops, which it returns: so a feedback batch replaces its
// pending records atomically, and the write comes before any removal of
// the messages once a receiver accepts them.
func (o *outbox) add(payloads [][]byte, ops []persist.Op) persist.Pending {
	o.mu.Lock()
	defer o.mu.Unlock()
	added := make([]outItem, len(payloads))
	for i, p := range payloads {
		added[i] = outItem{key: o.nextKey, payload: p}
		if o.db != nil {
			ops = append(ops, persist.Put(o.bucket, seqKey(o.nextKey), p))
		}
		o.nextKey++
	}
	w := o.db.Write(ops...)
	if o.closed {
		return w // kept for the next run, if there is a DB
	}
	for i := range added {
		added[i].written = w
	}
	o.items = append(o.items, added...)
	close(o.wake)
	o.wake = make(chan struct{})
	return w
}

// requeue puts back at the front a message a receiver did not settle.
func (o *outbox) requeue(it outItem) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.items = append([]outItem{it}, o.items...)
	close(o.wake)
	o.wake = make(chan struct{})
}

// settled forgets a message a receiver accepted or rejected. The removal
// is not awaited: at worst a crash delivers the message once more.
func (o *outbox) settled(it outItem) {
	if o.db != nil {
		o.db.Write(persist.Delete(o.bucket, seqKey(it.key)))
	}
}

func (o *outbox) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.wake)
	}
}

// next takes the first message, waiting for one until ctx ends.
func (o *outbox) next(ctx context.Context) (outItem, error) {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return outItem{}, ErrClosed
		}
		if len(o.items) > 0 {
			it := o.items[0]
			o.items[0] = outItem{}
			o.items = o.items[1:]
			o.mu.Unlock()
			return it, nil
		}
		wake := o.wake
		o.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return outItem{}, ctx.Err()
		}
	}
}

// len returns how many messages wait.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items)
}

// serve feeds l until it ends. Each message's outcome is awaited on its own
// goroutine, so several can be in flight within the link's credit.
func (o *outbox) serve(l *amqpserver.OutgoingLink) {
	ctx := l.Context()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		it, err := o.next(ctx)
		if err != nil {
			return
		}
		// A message goes out once it is on disk, so that a crash cannot
		// bring back, as pending records, a batch a receiver accepted. A
		// failed DB does not hold it back: this run still delivers it.
		if err := it.written.Wait(ctx); err != nil && ctx.Err() != nil {
			o.requeue(it)
			return
		}
		d, err := l.SendEncoded(ctx, it.payload, nil)
		if err != nil {
			o.requeue(it)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := d.Outcome()
			switch out.(type) {
			case amqpserver.Accepted, *amqpserver.Rejected:
				if err == nil {
					o.settled(it)
					return
				}
			}
			o.requeue(it)
		}()
	}
}
