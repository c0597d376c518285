package eventhubs

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// SelectorFilter is the source filter key under which Event Hubs clients
// send their start position, an SQL-like expression such as
// "amqp.annotation.x-opt-offset > '1234'".
const SelectorFilter = "apache.org:selector-filter:string"

// Conditions the endpoint sends besides the engine's standard ones.
const (
	// CondArgumentOutOfRange refuses a start position beyond the end of the stream.
	CondArgumentOutOfRange = "com.microsoft:argument-out-of-range"
	// CondArgumentError refuses a selector filter that cannot be parsed.
	CondArgumentError = "com.microsoft:argument-error"
)

type startKind int

const (
	startEarliest startKind = iota
	startLatest
	startOffset
	startSequence
	startEnqueued
)

// startPosition is a parsed selector filter.
type startPosition struct {
	kind      startKind
	inclusive bool
	value     int64
}

// parseSelector parses the start expressions Event Hubs accepts:
//
//	amqp.annotation.x-opt-offset > '-1'              earliest
//	amqp.annotation.x-opt-offset > '@latest'         only new events
//	amqp.annotation.x-opt-offset >= '1234'           from a byte offset
//	amqp.annotation.x-opt-sequence-number > '42'     from a sequence number
//	amqp.annotation.x-opt-enqueued-time > '1700000000000'  from a time (Unix ms)
//
// with > or >=, quoted or bare values, and the legacy name
// x-opt-enqueuedtimeutc for the enqueued time. An empty expression means earliest.
func parseSelector(expr string) (startPosition, error) {
	s := strings.TrimSpace(expr)
	if s == "" {
		return startPosition{kind: startEarliest}, nil
	}
	const prefix = "amqp.annotation."
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return startPosition{}, selectorError(expr)
	}
	s = s[len(prefix):]
	end := strings.IndexAny(s, " \t<>=")
	if end <= 0 {
		return startPosition{}, selectorError(expr)
	}
	name := strings.ToLower(s[:end])
	s = strings.TrimLeft(s[end:], " \t")
	var pos startPosition
	switch {
	case strings.HasPrefix(s, ">="):
		pos.inclusive, s = true, s[2:]
	case strings.HasPrefix(s, ">"):
		s = s[1:]
	default:
		return startPosition{}, selectorError(expr)
	}
	val := strings.TrimSpace(s)
	if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
		val = val[1 : len(val)-1]
	}
	switch name {
	case "x-opt-offset":
		switch val {
		case "-1":
			pos.kind = startEarliest
			return pos, nil
		case "@latest":
			pos.kind = startLatest
			return pos, nil
		}
		pos.kind = startOffset
	case "x-opt-sequence-number":
		pos.kind = startSequence
	case "x-opt-enqueued-time", "x-opt-enqueuedtimeutc":
		pos.kind = startEnqueued
	default:
		return startPosition{}, selectorError(expr)
	}
	v, err := strconv.ParseInt(val, 10, 64)
	if err != nil || (pos.kind == startOffset && v < 0) {
		return startPosition{}, selectorError(expr)
	}
	pos.value = v
	return pos, nil
}

func selectorError(expr string) *amqpserver.Error {
	return &amqpserver.Error{Condition: CondArgumentError,
		Description: fmt.Sprintf("The selector filter %q is not a supported start position expression.", expr)}
}

// resolve turns a start position into the sequence number of the first
// event to send. Events already dropped by retention are skipped, as Event
// Hubs does; a position beyond the end of the stream is refused. The stream
// ends with the last visible event: one not yet on disk counts as not yet
// appended, so a receiver starting at @latest gets it once it is.
func (p *partitionLog) resolve(pos startPosition) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	end := p.visible
	switch pos.kind {
	case startLatest:
		return end.nextSeq, nil
	case startOffset:
		if pos.value > end.nextOff || (!pos.inclusive && pos.value == end.nextOff) {
			return 0, &amqpserver.Error{Condition: CondArgumentOutOfRange, Description: fmt.Sprintf(
				"The supplied offset '%d' is invalid. The last offset in the system is '%d'.", pos.value, end.lastOff)}
		}
		return p.seekLocked(pos.inclusive, func(e *storedEvent) int64 { return e.offset }, pos.value), nil
	case startSequence:
		next := pos.value
		if !pos.inclusive {
			next++
		}
		if next > end.nextSeq {
			return 0, &amqpserver.Error{Condition: CondArgumentOutOfRange, Description: fmt.Sprintf(
				"The supplied sequence number '%d' is invalid. The last sequence number in the system is '%d'.", pos.value, end.nextSeq-1)}
		}
		return max(next, p.firstSeq), nil
	case startEnqueued:
		return p.seekLocked(pos.inclusive, func(e *storedEvent) int64 { return e.enqueued }, pos.value), nil
	}
	return p.firstSeq, nil
}
