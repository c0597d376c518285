package emulator

import (
	"path"
	"strings"
	"sync"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/servicerest"
)

// Fault makes the emulator misbehave on purpose, to test retries, timeouts
// and error paths: the next Count requests that match Method and Path are
// delayed by Latency and then, when Status or Code is set, answered with
// that error instead of being served.
type Fault struct {
	// Method is the HTTP method to match, case-insensitively. Default: any.
	Method string
	// Path is the request path to match (unescaped, without the query), as
	// a path.Match pattern in which '*' stands for one path segment, e.g.
	// "/devices/*"; a pattern ending in "/**" matches everything under its
	// prefix, e.g. "/twins/**". Default: any path.
	Path string
	// Count is how many matching requests the fault applies to. Default
	// (0): every matching request until ClearFaults.
	Count int
	// Status is the HTTP status to answer. Default: the status of Code
	// (429 for 429001); with neither Status nor Code the request is only
	// delayed.
	Status int
	// Code is the hub error code to report in the body and the
	// iothub-errorcode header, e.g. iothub.CodeThrottlingException.
	Code iothub.ErrorCode
	// Message is the error message. Default: a message saying the fault
	// was injected.
	Message string
	// RetryAfter, when positive, is sent in the Retry-After header, in
	// whole seconds (at least 1).
	RetryAfter time.Duration
	// Latency delays the matching requests (whether or not they fail). The
	// delay ends early when the client gives up.
	Latency time.Duration
}

type activeFault struct {
	Fault
	remaining int // < 0: unlimited
}

type faultSet struct {
	mu     sync.Mutex
	faults []*activeFault
}

// InjectFault adds a fault. Faults are tried in the order they were added;
// a request consumes at most one (the first that matches and has requests
// left).
func (e *Emulator) InjectFault(f Fault) {
	remaining := f.Count
	if remaining <= 0 {
		remaining = -1
	}
	e.faults.mu.Lock()
	e.faults.faults = append(e.faults.faults, &activeFault{Fault: f, remaining: remaining})
	e.faults.mu.Unlock()
}

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() {
	e.faults.mu.Lock()
	e.faults.faults = nil
	e.faults.mu.Unlock()
}

// take returns the fault that applies to a request and uses one of its
// requests up; nil when none applies.
func (s *faultSet) take(method, p string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !methodMatches(f.Method, method) || !pathMatches(f.Path, p) {
			continue
		}
		out := f.Fault
		if f.remaining > 0 {
			f.remaining--
			if f.remaining == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &out
	}
	return nil
}

// takeFault gives the REST front end the fault that applies to a
// request, using one of its requests up; nil when none applies.
func (e *Emulator) takeFault(method, p string) *servicerest.Fault {
	f := e.faults.take(method, p)
	if f == nil {
		return nil
	}
	return &servicerest.Fault{Status: f.Status, Code: f.Code, Message: f.Message, RetryAfter: f.RetryAfter, Latency: f.Latency}
}

func methodMatches(pattern, method string) bool {
	return pattern == "" || strings.EqualFold(pattern, method)
}

// pathMatches applies the pattern syntax documented on Fault.Path.
func pathMatches(pattern, p string) bool {
	switch {
	case pattern == "" || pattern == "/**" || pattern == "**":
		return true
	case strings.HasSuffix(pattern, "/**"):
		prefix := strings.Split(strings.Trim(strings.TrimSuffix(pattern, "/**"), "/"), "/")
		segments := strings.Split(strings.Trim(p, "/"), "/")
		if len(segments) < len(prefix) {
			return false
		}
		for i, seg := range prefix {
			if ok, _ := path.Match(seg, segments[i]); !ok {
				return false
			}
		}
		return true
	}
	ok, _ := path.Match(pattern, p)
	return ok
}

// Request is one request the emulator received, for tests that assert what
// a client sent (how many retries, say).
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the unescaped path, without the query.
	Path string
	// Query is the raw query string.
	Query string
	// Status is the HTTP status answered; 0 while the request is in flight.
	Status int
	// Time is when the request arrived.
	Time time.Time
}

// requestLogLimit bounds the log; older entries are dropped first.
const requestLogLimit = 10000

type requestLog struct {
	mu      sync.Mutex
	entries []*Request
	dropped int
}

func (l *requestLog) add(r *Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= requestLogLimit {
		n := len(l.entries) / 2
		l.entries = append(l.entries[:0:0], l.entries[n:]...)
		l.dropped += n
	}
	l.entries = append(l.entries, r)
}

func (l *requestLog) setStatus(r *Request, status int) {
	l.mu.Lock()
	r.Status = status
	l.mu.Unlock()
}

// logRequest logs a request as the REST front end receives it, and returns
// what records its status once answered.
func (e *Emulator) logRequest(method, p, query string, at time.Time) func(status int) {
	entry := &Request{Method: method, Path: p, Query: query, Time: at}
	e.reqlog.add(entry)
	return func(status int) { e.reqlog.setStatus(entry, status) }
}

// Requests returns the requests received so far, oldest first (at most the
// last 10000).
func (e *Emulator) Requests() []Request {
	e.reqlog.mu.Lock()
	defer e.reqlog.mu.Unlock()
	out := make([]Request, len(e.reqlog.entries))
	for i, r := range e.reqlog.entries {
		out[i] = *r
	}
	return out
}

// RequestCount returns how many requests matching method ("" for any) and
// pathPattern (the syntax of Fault.Path; "" for any) the emulator has
// received, whatever their outcome. A request is counted as soon as it
// arrives.
func (e *Emulator) RequestCount(method, pathPattern string) int {
	e.reqlog.mu.Lock()
	defer e.reqlog.mu.Unlock()
	n := 0
	for _, r := range e.reqlog.entries {
		if methodMatches(method, r.Method) && pathMatches(pathPattern, r.Path) {
			n++
		}
	}
	return n
}
