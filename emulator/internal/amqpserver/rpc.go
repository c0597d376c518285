package amqpserver

import (
	"context"
	"errors"
	"sync"

	"github.com/Azure/go-amqp"
)

// Request is one request message received by a request/response node.
type Request struct {
	// Conn is the connection the request came on; a CBS node records the
	// identity a token grants here.
	Conn *Conn
	// Link is the link the request came on.
	Link *IncomingLink
	// Message is the request.
	Message *amqp.Message
}

// RequestHandler answers a request. A nil response with a nil error sends
// nothing. An error rejects the request message (an *Error chooses the
// condition) and sends no response; protocols such as $cbs and $management
// that report failures in status-code application properties should return
// a response carrying them instead.
type RequestHandler func(ctx context.Context, req *Request) (*amqp.Message, error)

// NewRequestResponseNode returns a node for the request/response pattern of
// $cbs and $management: the client attaches a sender and a receiver to the
// node's address, the receiver's target address being the reply-to of its
// requests. Each request runs h on its own goroutine; the response goes to
// the receiver link with that target address on the same connection, with
// correlation-id set to the request's message-id (or its correlation-id when
// it has no message-id) unless h set one, and is sent once the client grants
// credit.
func NewRequestResponseNode(h RequestHandler) *Node {
	rr := &rpcNode{handler: h, replies: make(map[replyKey]*OutgoingLink)}
	return &Node{Incoming: rr.incoming, Outgoing: rr.outgoing}
}

type replyKey struct {
	conn *Conn
	addr string
}

type rpcNode struct {
	handler RequestHandler
	mu      sync.Mutex
	replies map[replyKey]*OutgoingLink
}

func (n *rpcNode) outgoing(l *OutgoingLink) error {
	addr := ""
	if t := l.Target(); t != nil {
		addr = t.Address
	}
	key := replyKey{l.Conn(), addr}
	n.mu.Lock()
	n.replies[key] = l
	n.mu.Unlock()
	context.AfterFunc(l.Context(), func() {
		n.mu.Lock()
		if n.replies[key] == l {
			delete(n.replies, key)
		}
		n.mu.Unlock()
	})
	return nil
}

// replyLink finds the link a response to msg goes to.
func (n *rpcNode) replyLink(c *Conn, msg *amqp.Message) *OutgoingLink {
	n.mu.Lock()
	defer n.mu.Unlock()
	if msg.Properties != nil && msg.Properties.ReplyTo != nil {
		return n.replies[replyKey{c, *msg.Properties.ReplyTo}]
	}
	// No reply-to: use the connection's only reply link, if there is one.
	var found *OutgoingLink
	for k, l := range n.replies {
		if k.conn == c {
			if found != nil {
				return nil
			}
			found = l
		}
	}
	return found
}

func (n *rpcNode) incoming(l *IncomingLink) (MessageHandler, error) {
	return func(d *Delivery) Outcome {
		reply := n.replyLink(l.Conn(), d.Message)
		if reply == nil {
			return &Rejected{Error: &Error{Condition: CondPreconditionFailed,
				Description: "no receiver link is attached for the request's reply-to address"}}
		}
		started := l.c.srv.goTracked(func() { n.serve(l, reply, d) })
		if !started {
			return Released{}
		}
		return nil
	}, nil
}

func (n *rpcNode) serve(l *IncomingLink, reply *OutgoingLink, d *Delivery) {
	ctx := reply.Context()
	resp, err := n.handler(ctx, &Request{Conn: l.Conn(), Link: l, Message: d.Message})
	if err != nil {
		_ = d.Settle(&Rejected{Error: asError(err, CondInternalError)})
		return
	}
	_ = d.Settle(Accepted{})
	if resp == nil {
		return
	}
	req := d.Message
	if resp.Properties == nil {
		resp.Properties = &amqp.MessageProperties{}
	}
	if resp.Properties.CorrelationID == nil && req.Properties != nil {
		if req.Properties.MessageID != nil {
			resp.Properties.CorrelationID = req.Properties.MessageID
		} else {
			resp.Properties.CorrelationID = req.Properties.CorrelationID
		}
	}
	if resp.Properties.To == nil && req.Properties != nil && req.Properties.ReplyTo != nil {
		to := *req.Properties.ReplyTo
		resp.Properties.To = &to
	}
	if _, err := reply.Send(ctx, resp, nil); err != nil && !errors.Is(err, context.Canceled) {
		l.c.log.Debug("amqp response not sent", "address", l.Address(), "error", err)
	}
}
