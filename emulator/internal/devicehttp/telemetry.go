package devicehttp

import (
	"fmt"
	"io"
	"net/http"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// MaxMessageSize is the largest telemetry request body, one message or a
// whole batch: IoT Hub's 256 KB.
const MaxMessageSize = 256 * 1024

// sendEvents answers POST …/messages/events: the message (or each message
// of a batch) goes to the built-in endpoint, with its properties and
// system properties as the MQTT front end produces them; 204 once stored.
func (h *Handler) sendEvents(w http.ResponseWriter, r *http.Request, key sessions.Key) error {
	body, err := readLimited(r.Body, MaxMessageSize)
	if err != nil {
		return err
	}
	if !isBatch(r.Header.Get("Content-Type")) {
		ev := headerEvent(r.Header, h.headerNames(r))
		ev.Body = body
		if err := h.append(r, key, ev); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	evs, err := decodeBatch(body)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if err := h.append(r, key, ev); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) append(r *http.Request, key sessions.Key, ev eventhubs.Event) error {
	ev.DeviceID, ev.ModuleID = key.DeviceID, key.ModuleID
	return h.hub.AppendTelemetry(r.Context(), ev)
}

// errTooLarge is the hub's answer to a message over MaxMessageSize:
// 413001 MessageTooLarge.
func errTooLarge() error {
	return iothub.NewError(iothub.CodeMessageTooLarge, fmt.Sprintf("Message size exceeds the limit of %d bytes", MaxMessageSize))
}

// readLimited reads a request body of at most limit bytes.
func readLimited(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "The request body could not be read: "+err.Error())
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge()
	}
	return b, nil
}
