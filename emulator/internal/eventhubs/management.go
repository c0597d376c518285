package eventhubs

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// Management request types and the READ operation, as Event Hubs clients send them.
const (
	ManagementTypeEventHub  = "com.microsoft:eventhub"
	ManagementTypePartition = "com.microsoft:partition"
	ManagementOperationRead = "READ"
)

// serveManagement answers $management READ requests for the hub and its
// partitions. Failures are responses with a status-code, as Event Hubs sends
// them, never rejected requests.
func (h *Hub) serveManagement(_ context.Context, req *amqpserver.Request) (*amqp.Message, error) {
	props := req.Message.ApplicationProperties
	str := func(k string) string { s, _ := props[k].(string); return s }
	// Whether the client used "$management" or "<entity>/$management", the
	// claim it needs is the one CBS grants for the entity's management node.
	if err := h.authorize(req.Conn, h.opts.EntityName+"/$management"); err != nil {
		return statusResponse(401, err.Error(), nil), nil
	}
	if op := str("operation"); op != ManagementOperationRead {
		return statusResponse(400, fmt.Sprintf("The operation '%s' is not supported.", op), nil), nil
	}
	name := str("name")
	if linkEntity := req.Link.Param("entity"); !h.isEntity(name) || (linkEntity != "" && !h.isEntity(linkEntity)) {
		return statusResponse(404, fmt.Sprintf("The messaging entity '%s' could not be found.", name), nil), nil
	}
	switch typ := str("type"); typ {
	case ManagementTypeEventHub:
		return statusResponse(200, "OK", map[string]any{
			"name":                  h.opts.EntityName,
			"type":                  ManagementTypeEventHub,
			"created_at":            h.created,
			"partition_count":       int32(len(h.ids)),
			"partition_ids":         h.PartitionIDs(),
			"georeplication_factor": int32(1),
		}), nil
	case ManagementTypePartition:
		pid := str("partition")
		p := h.partition(pid)
		if p == nil {
			return statusResponse(404, fmt.Sprintf("The partition '%s' of the messaging entity '%s' could not be found.", pid, name), nil), nil
		}
		info := p.info(h.opts.Now())
		lastTime := time.Time{}
		if info.lastSeq >= 0 {
			lastTime = time.UnixMilli(info.lastTime).UTC()
		}
		return statusResponse(200, "OK", map[string]any{
			"name":                       h.opts.EntityName,
			"type":                       ManagementTypePartition,
			"partition":                  p.id,
			"begin_sequence_number":      info.beginSeq,
			annotationLastSequenceNumber: info.lastSeq,
			annotationLastOffset:         fmt.Sprint(info.lastOffset),
			annotationLastEnqueuedTime:   lastTime,
			"is_partition_empty":         info.empty,
		}), nil
	default:
		return statusResponse(400, fmt.Sprintf("The management type '%s' is not supported.", typ), nil), nil
	}
}

// statusResponse builds a management response: status-code (int32) and
// status-description application properties and, on success, an AMQP value
// body with the entity's properties.
func statusResponse(code int32, description string, body map[string]any) *amqp.Message {
	m := &amqp.Message{ApplicationProperties: map[string]any{
		"status-code":        code,
		"status-description": description,
	}}
	if body != nil {
		m.Value = body
	}
	return m
}
