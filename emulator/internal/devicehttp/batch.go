package devicehttp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
)

// batchContentType is the Content-Type of a batch of telemetry messages.
const batchContentType = "application/vnd.microsoft.iothub.json"

// isBatch reports whether a request's Content-Type announces a batch.
func isBatch(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && strings.EqualFold(mt, batchContentType)
}

// batchItem is one message of a batch, as the SDKs write it: the body in
// base64 unless base64Encoded is false (then the body is the text itself),
// and its properties named as the headers of a single message are. The
// C# and Node SDKs leave base64Encoded out (its default is true); the C
// SDK sends text bodies with false.
type batchItem struct {
	Body          *string                    `json:"body"`
	Base64Encoded *bool                      `json:"base64Encoded"`
	Properties    map[string]json.RawMessage `json:"properties"`
}

// decodeBatch reads a batch into one event per message. A property value
// may be a string, a number or a boolean (the C# SDK writes system
// properties with their own JSON types) and is kept as its text; null is
// left out.
func decodeBatch(body []byte) ([]eventhubs.Event, error) {
	var items []batchItem
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&items); err != nil {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "The batch is not a JSON array of messages: "+err.Error())
	}
	if dec.More() {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "The batch has data after its JSON array")
	}
	if len(items) == 0 {
		return nil, iothub.NewError(iothub.CodeArgumentInvalid, "The batch holds no messages")
	}
	evs := make([]eventhubs.Event, 0, len(items))
	for i, it := range items {
		ev, err := it.event()
		if err != nil {
			return nil, iothub.NewError(iothub.CodeArgumentInvalid, fmt.Sprintf("Message %d of the batch: %v", i, err))
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func (it batchItem) event() (eventhubs.Event, error) {
	var ev eventhubs.Event
	if it.Body == nil {
		return ev, fmt.Errorf("it has no body")
	}
	if it.Base64Encoded == nil || *it.Base64Encoded {
		b, err := base64.StdEncoding.DecodeString(*it.Body)
		if err != nil {
			return ev, fmt.Errorf("its body is not base64 (set base64Encoded to false for a text body)")
		}
		ev.Body = b
	} else {
		ev.Body = []byte(*it.Body)
	}
	for name, raw := range it.Properties {
		v, ok, err := propertyText(raw)
		if err != nil {
			return ev, fmt.Errorf("property %q: %v", name, err)
		}
		if ok {
			setProperty(&ev, name, v)
		}
	}
	return ev, nil
}

// propertyText returns a JSON scalar as text; ok is false for null.
func propertyText(raw json.RawMessage) (text string, ok bool, err error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", false, err
	}
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	case json.Number:
		return x.String(), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	}
	return "", false, fmt.Errorf("the value is not a string, number or boolean")
}
