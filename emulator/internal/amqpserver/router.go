package amqpserver

import (
	"fmt"
	"strings"
	"sync"
)

// Node serves the links attached to the addresses its pattern matches.
// Either callback may be nil, in which case links in that direction are
// refused with amqp:not-allowed. Callbacks run on the connection's read
// goroutine and should return promptly.
type Node struct {
	// Incoming is called when a client attaches a sender: the server will
	// receive messages. It returns the handler for those messages, or an
	// error (an *Error to choose the condition) to refuse the attach.
	Incoming func(l *IncomingLink) (MessageHandler, error)

	// Outgoing is called when a client attaches a receiver: the server will
	// send messages with l.Send. Return an error (an *Error to choose the
	// condition, such as RedirectError) to refuse the attach. A node that
	// streams messages typically starts, with l.Go, a goroutine that calls
	// Send until its context is done.
	Outgoing func(l *OutgoingLink) error
}

// router matches addresses against patterns of "/"-separated segments.
// A segment "{name}" captures one segment; a last segment "{name...}"
// captures the rest. Literal segments match case-insensitively.
type router struct {
	mu     sync.RWMutex
	routes []route
}

type route struct {
	pattern  string
	segs     []string
	literals int
	rest     bool
	node     *Node
}

// Handle registers n for the addresses matching pattern, for example
// "/messages/devicebound", "/devices/{id}/messages/devicebound" or
// "{entity}/ConsumerGroups/{cg}/Partitions/{pid}". A leading "/" and an
// "amqps://host" prefix are ignored, in patterns and addresses alike. When
// several patterns match, the one with more literal segments wins, then a
// pattern without "{rest...}", then the one registered first.
func (s *Server) Handle(pattern string, n *Node) error {
	return s.router.add(pattern, n)
}

func (r *router) add(pattern string, n *Node) error {
	if n == nil {
		return fmt.Errorf("amqpserver: nil node for %q", pattern)
	}
	rt := route{pattern: pattern, segs: splitAddress(pattern), node: n}
	seen := map[string]bool{}
	for i, seg := range rt.segs {
		name, isParam, isRest := parseSegment(seg)
		switch {
		case !isParam:
			rt.literals++
			continue
		case name == "":
			return fmt.Errorf("amqpserver: empty parameter name in %q", pattern)
		case seen[name]:
			return fmt.Errorf("amqpserver: parameter %q twice in %q", name, pattern)
		case isRest && i != len(rt.segs)-1:
			return fmt.Errorf("amqpserver: %q must be the last segment of %q", seg, pattern)
		}
		seen[name] = true
		rt.rest = rt.rest || isRest
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, old := range r.routes {
		if strings.EqualFold(strings.Join(old.segs, "/"), strings.Join(rt.segs, "/")) {
			return fmt.Errorf("amqpserver: pattern %q is already registered", pattern)
		}
	}
	r.routes = append(r.routes, rt)
	return nil
}

func parseSegment(seg string) (name string, isParam, isRest bool) {
	if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false, false
	}
	name = seg[1 : len(seg)-1]
	if n, ok := strings.CutSuffix(name, "..."); ok {
		return n, true, true
	}
	return name, true, false
}

// splitAddress normalises an address: no scheme and host, no leading "/".
func splitAddress(addr string) []string {
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
		if j := strings.IndexByte(addr, '/'); j >= 0 {
			addr = addr[j:]
		} else {
			addr = ""
		}
	}
	addr = strings.TrimPrefix(addr, "/")
	return strings.Split(addr, "/")
}

func (r *router) match(addr string) (*Node, map[string]string) {
	segs := splitAddress(addr)
	r.mu.RLock()
	defer r.mu.RUnlock()
	var best *route
	for i := range r.routes {
		rt := &r.routes[i]
		if !rt.matches(segs) {
			continue
		}
		if best == nil || rt.literals > best.literals || (rt.literals == best.literals && best.rest && !rt.rest) {
			best = rt
		}
	}
	if best == nil {
		return nil, nil
	}
	params := map[string]string{}
	for i, seg := range best.segs {
		name, isParam, isRest := parseSegment(seg)
		switch {
		case isRest:
			params[name] = strings.Join(segs[i:], "/")
		case isParam:
			params[name] = segs[i]
		}
	}
	return best.node, params
}

func (rt *route) matches(segs []string) bool {
	if rt.rest {
		if len(segs) < len(rt.segs) {
			return false
		}
	} else if len(segs) != len(rt.segs) {
		return false
	}
	for i, seg := range rt.segs {
		_, isParam, isRest := parseSegment(seg)
		switch {
		case isRest:
			return segs[i] != "" || len(segs) > i+1
		case isParam:
			if segs[i] == "" {
				return false
			}
		case !strings.EqualFold(seg, segs[i]):
			return false
		}
	}
	return true
}
