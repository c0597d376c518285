package amqpserver

import "github.com/iotkit-go/iothub/emulator/internal/amqpserver/encoding"

// Outcome is the terminal state of a delivery: Accepted, *Rejected, Released
// or *Modified. A node returns one for each message it receives and learns one
// for each message it sends.
type Outcome interface {
	state() encoding.DeliveryState
}

// Accepted means the message was processed.
type Accepted struct{}

// Rejected means the message is invalid and must not be redelivered.
type Rejected struct {
	// Error says why; it may be nil.
	Error *Error
}

// Released means the message was not processed and may be delivered again.
type Released struct{}

// Modified means the message was not processed and should be redelivered with changes.
type Modified struct {
	DeliveryFailed    bool
	UndeliverableHere bool
	Annotations       map[string]any
}

var (
	stateAccepted = &encoding.StateAccepted{}
	stateReleased = &encoding.StateReleased{}
)

func (Accepted) state() encoding.DeliveryState { return stateAccepted }
func (Released) state() encoding.DeliveryState { return stateReleased }
func (r *Rejected) state() encoding.DeliveryState {
	return &encoding.StateRejected{Error: r.Error.wire()}
}
func (m *Modified) state() encoding.DeliveryState {
	s := &encoding.StateModified{DeliveryFailed: m.DeliveryFailed, UndeliverableHere: m.UndeliverableHere}
	if len(m.Annotations) > 0 {
		s.Annotations = make(map[encoding.Symbol]any, len(m.Annotations))
		for k, v := range m.Annotations {
			s.Annotations[encoding.Symbol(k)] = v
		}
	}
	return s
}

// outcomeOf converts a state received from a client; nil when it is not terminal.
func outcomeOf(s encoding.DeliveryState) Outcome {
	switch s := s.(type) {
	case *encoding.StateAccepted:
		return Accepted{}
	case *encoding.StateRejected:
		return &Rejected{Error: fromWire(s.Error)}
	case *encoding.StateReleased:
		return Released{}
	case *encoding.StateModified:
		m := &Modified{DeliveryFailed: s.DeliveryFailed, UndeliverableHere: s.UndeliverableHere}
		if len(s.Annotations) > 0 {
			m.Annotations = make(map[string]any, len(s.Annotations))
			for k, v := range s.Annotations {
				m.Annotations[string(k)] = v
			}
		}
		return m
	}
	return nil
}
