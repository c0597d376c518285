package amqpserver

import (
	"context"
	"errors"
	"slices"
	"strings"
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
// node's address and names, in each request's reply-to, where the response
// should go. Each request runs h on its own goroutine; the response goes to
// one of the receiver links the same connection attached to this node (see
// replyLink for which), with correlation-id set to the request's message-id
// (or its correlation-id when it has no message-id) unless h set one, and is
// sent once the client grants credit.
func NewRequestResponseNode(h RequestHandler) *Node {
	rr := &rpcNode{handler: h, replies: make(map[*Conn][]*OutgoingLink)}
	return &Node{Incoming: rr.incoming, Outgoing: rr.outgoing}
}

type rpcNode struct {
	handler RequestHandler
	mu      sync.Mutex
	// replies are the receiver links attached to the node, per connection,
	// in the order they were attached.
	replies map[*Conn][]*OutgoingLink
}

func (n *rpcNode) outgoing(l *OutgoingLink) error {
	c := l.Conn()
	n.mu.Lock()
	n.replies[c] = append(n.replies[c], l)
	n.mu.Unlock()
	context.AfterFunc(l.Context(), func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		links := slices.DeleteFunc(n.replies[c], func(o *OutgoingLink) bool { return o == l })
		if len(links) == 0 {
			delete(n.replies, c)
			return
		}
		n.replies[c] = links
	})
	return nil
}

// replyLink finds the link a response to a request received on in goes to.
// Clients name the reply link in different ways, and Azure answers them
// all, so the emulator does too. What the official clients send:
//
//   - azure-iot SDKs (azure-iothub for Node, the C and C# SDKs): reply-to
//     "cbs" on $cbs, and a receiver attached with a source and a target
//     without an address;
//   - @azure/core-amqp ($cbs of the JavaScript Event Hubs and Service Bus
//     SDKs): reply-to is the receiver's link name, again with no target
//     address; its $management client sets both to the same value;
//   - go-amqp based clients (azeventhubs, this SDK): reply-to is the
//     receiver's target address.
//
// So a receiver whose target address, or else whose link name, equals
// reply-to wins; failing both (or without reply-to), any receiver. Among
// several, one attached to the same address as the request's link beats
// one attached to another address of the node, then one on the same session,
// then the newest. Nil when the connection has attached no receiver to the
// node.
func (n *rpcNode) replyLink(in *IncomingLink, msg *amqp.Message) *OutgoingLink {
	n.mu.Lock()
	links := slices.Clone(n.replies[in.Conn()])
	n.mu.Unlock()
	var replyTo string
	if msg.Properties != nil && msg.Properties.ReplyTo != nil {
		replyTo = *msg.Properties.ReplyTo
	}
	matches := []func(l *OutgoingLink) bool{
		func(l *OutgoingLink) bool {
			t := l.Target()
			return t != nil && t.Address != "" && t.Address == replyTo
		},
		func(l *OutgoingLink) bool { return l.Name() == replyTo },
		func(*OutgoingLink) bool { return true },
	}
	if replyTo == "" {
		matches = matches[2:]
	}
	for _, match := range matches {
		var best *OutgoingLink
		bestRank := -1
		for _, l := range links {
			// A link detached a moment ago may still be listed: its
			// context ends before its detach is answered, the
			// forgetting follows.
			if l.Context().Err() != nil || !match(l) {
				continue
			}
			rank := 0
			if strings.EqualFold(l.Address(), in.Address()) {
				rank += 2
			}
			if l.s == in.s {
				rank++
			}
			if rank >= bestRank { // links are in attach order: the newest wins a tie
				best, bestRank = l, rank
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

func (n *rpcNode) incoming(l *IncomingLink) (MessageHandler, error) {
	return func(d *Delivery) Outcome {
		reply := n.replyLink(l, d.Message)
		if reply == nil {
			return &Rejected{Error: &Error{Condition: CondPreconditionFailed,
				Description: "attach a receiver link to " + l.Address() + " before sending requests: the response needs one"}}
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
