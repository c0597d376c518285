package devicebound

import (
	"context"
	"sync"

	"github.com/Azure/go-amqp"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// outbox holds service-bound messages (feedback batches, file
// notifications) until a receiver link takes and accepts them. A message
// released or modified by the receiver, or in flight on a link that ends,
// goes back to the front to be delivered again; a rejected one is dropped.
type outbox struct {
	mu     sync.Mutex
	items  []*amqp.Message
	wake   chan struct{}
	closed bool
}

func newOutbox() *outbox { return &outbox{wake: make(chan struct{})} }

func (o *outbox) push(m *amqp.Message, front bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	if front {
		o.items = append([]*amqp.Message{m}, o.items...)
	} else {
		o.items = append(o.items, m)
	}
	close(o.wake)
	o.wake = make(chan struct{})
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
func (o *outbox) next(ctx context.Context) (*amqp.Message, error) {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return nil, ErrClosed
		}
		if len(o.items) > 0 {
			m := o.items[0]
			o.items = o.items[1:]
			o.mu.Unlock()
			return m, nil
		}
		wake := o.wake
		o.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
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
		m, err := o.next(ctx)
		if err != nil {
			return
		}
		d, err := l.Send(ctx, m, nil)
		if err != nil {
			o.push(m, true)
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := d.Outcome()
			switch out.(type) {
			case amqpserver.Accepted, *amqpserver.Rejected:
				if err == nil {
					return
				}
			}
			o.push(m, true)
		}()
	}
}
