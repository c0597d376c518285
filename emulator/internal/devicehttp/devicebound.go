package devicehttp

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/devicebound"
	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// receive answers GET …/messages/deviceBound: 204 when nothing is ready;
// otherwise 200 with the body, the lock token as a quoted ETag and the
// message's properties as headers, named as the SDKs read them (the Node
// SDK's azure-iot-http-base toMessage, the C# SDK's HttpTransportHandler,
// the C SDK's iothubtransporthttp.c). The lock lasts the queue's lock
// timeout; the C# SDK's iothub-messagelocktimeout query parameter is not
// honoured.
func (h *Handler) receive(w http.ResponseWriter, key sessions.Key) error {
	m, err := h.hub.C2D().TryReceive(devicebound.Key(key))
	if err != nil {
		return queueError(err)
	}
	if m == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	hd := w.Header()
	// Set by hand, not with Header.Set: the C SDK matches these names
	// case-sensitively, and Set would canonicalise them.
	put := func(name, value string) {
		if value != "" {
			hd[name] = []string{value}
		}
	}
	hd.Set("ETag", strconv.Quote(m.LockToken))
	hd.Set("Content-Type", "application/octet-stream")
	put("iothub-messageid", m.MessageID)
	to := m.To
	if to == "" {
		to = "/devices/" + key.DeviceID + "/messages/deviceBound"
		if key.ModuleID != "" {
			to = "/devices/" + key.DeviceID + "/modules/" + key.ModuleID + "/messages/deviceBound"
		}
	}
	put("iothub-to", to)
	put("iothub-correlationid", m.CorrelationID)
	put("iothub-userid", m.UserID)
	put("iothub-ack", string(m.Ack))
	put("iothub-deliverycount", strconv.Itoa(m.DeliveryCount))
	if !m.EnqueuedTime.IsZero() {
		put("iothub-enqueuedtime", m.EnqueuedTime.UTC().Format(timeFormat))
	}
	if !m.ExpiryTime.IsZero() {
		put("iothub-expiry", m.ExpiryTime.UTC().Format(timeFormat))
	}
	// The C SDK reads the content type and encoding of a C2D message from
	// these two headers.
	put("ContentType", m.ContentType)
	put("ContentEncoding", m.ContentEncoding)
	for k, v := range m.Properties {
		if validHeaderName(k) {
			hd[appPropertyPrefix+k] = []string{v}
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(m.Body)
	return nil
}

// settle answers DELETE …/deviceBound/{etag} (complete; with ?reject or
// reject=true, reject) and POST …/deviceBound/{etag}/abandon: 204, or 412
// DeviceMessageLockLost when the lock token is not a lock the queue holds
// (unknown, timed out, or settled already).
func (h *Handler) settle(w http.ResponseWriter, r *http.Request, rt route) error {
	token, err := parseLockToken(rt.lockToken)
	if err != nil {
		return err
	}
	q, k := h.hub.C2D(), devicebound.Key(rt.key)
	switch {
	case rt.op == opAbandon:
		err = q.Abandon(k, token)
	case wantsReject(r):
		err = q.Reject(k, token)
	default:
		err = q.Complete(k, token)
	}
	if err != nil {
		return queueError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// wantsReject reports whether a DELETE rejects: the Node and C# SDKs send
// a bare "&reject"; "reject=true" is the documented form; reject=false
// completes.
func wantsReject(r *http.Request) bool {
	v, ok := r.URL.Query()["reject"]
	return ok && (len(v) == 0 || !strings.EqualFold(v[0], "false"))
}

// parseLockToken reads the {etag} of a settlement: the lock token, bare
// (as the Node and C# SDKs send it, having stripped the ETag's quotes) or
// quoted, with or without a weak-validator prefix.
func parseLockToken(s string) (string, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "W/")
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		t = t[1 : len(t)-1]
	}
	if t == "" || strings.ContainsAny(t, "\"\r\n") {
		return "", iothub.NewError(iothub.CodeArgumentInvalid, "The lock token (ETag) in the path is empty or malformed")
	}
	return t, nil
}

// queueError turns the C2D queues' errors into the hub's.
func queueError(err error) error {
	switch {
	case errors.Is(err, devicebound.ErrLockLost):
		return iothub.NewError(iothub.CodeDeviceMessageLockLost, "The message lock was lost: the lock token is unknown, timed out, or the message was settled already")
	case errors.Is(err, devicebound.ErrClosed):
		return iothub.NewError(iothub.CodeServiceUnavailable, "The hub is shutting down")
	}
	return err
}

// validHeaderName reports whether s can follow iothub-app- in a header
// name: an HTTP token, as the hub requires of property names over HTTPS.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
