package encoding

// Descriptor codes of the performatives and types this package decodes.
const (
	CodeOpen           = 0x10
	CodeBegin          = 0x11
	CodeAttach         = 0x12
	CodeFlow           = 0x13
	CodeTransfer       = 0x14
	CodeDisposition    = 0x15
	CodeDetach         = 0x16
	CodeEnd            = 0x17
	CodeClose          = 0x18
	CodeError          = 0x1d
	CodeReceived       = 0x23
	CodeAccepted       = 0x24
	CodeRejected       = 0x25
	CodeReleased       = 0x26
	CodeModified       = 0x27
	CodeSource         = 0x28
	CodeTarget         = 0x29
	CodeSASLMechanisms = 0x40
	CodeSASLInit       = 0x41
	CodeSASLChallenge  = 0x42
	CodeSASLResponse   = 0x43
	CodeSASLOutcome    = 0x44
)

var descriptorNames = map[Symbol]uint64{
	"amqp:open:list":            CodeOpen,
	"amqp:begin:list":           CodeBegin,
	"amqp:attach:list":          CodeAttach,
	"amqp:flow:list":            CodeFlow,
	"amqp:transfer:list":        CodeTransfer,
	"amqp:disposition:list":     CodeDisposition,
	"amqp:detach:list":          CodeDetach,
	"amqp:end:list":             CodeEnd,
	"amqp:close:list":           CodeClose,
	"amqp:error:list":           CodeError,
	"amqp:received:list":        CodeReceived,
	"amqp:accepted:list":        CodeAccepted,
	"amqp:rejected:list":        CodeRejected,
	"amqp:released:list":        CodeReleased,
	"amqp:modified:list":        CodeModified,
	"amqp:source:list":          CodeSource,
	"amqp:target:list":          CodeTarget,
	"amqp:sasl-mechanisms:list": CodeSASLMechanisms,
	"amqp:sasl-init:list":       CodeSASLInit,
	"amqp:sasl-challenge:list":  CodeSASLChallenge,
	"amqp:sasl-response:list":   CodeSASLResponse,
	"amqp:sasl-outcome:list":    CodeSASLOutcome,
}

// readKnownDescribed decodes an error or a delivery state met inside a generic value.
func (r *Reader) readKnownDescribed(code uint64) (any, error) {
	if code == CodeError {
		return r.ReadError()
	}
	return r.ReadDeliveryState()
}
