package devicemqtt

import (
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/sessions"
)

// Topics of IoT Hub's MQTT support.
const (
	topicMethodsPOST    = "$iothub/methods/POST/"
	topicMethodsRes     = "$iothub/methods/res/"
	topicTwinGET        = "$iothub/twin/GET/"
	topicTwinRes        = "$iothub/twin/res/"
	topicTwinReported   = "$iothub/twin/PATCH/properties/reported/"
	topicTwinDesired    = "$iothub/twin/PATCH/properties/desired/"
	filterMethods       = "$iothub/methods/POST/#"
	filterTwinRes       = "$iothub/twin/res/#"
	filterTwinDesired   = "$iothub/twin/PATCH/properties/desired/#"
	messagesEvents      = "messages/events/"
	messagesDevicebound = "messages/devicebound/"
)

// identityPrefix is "devices/{id}/" or "devices/{id}/modules/{mid}/", the
// start of an identity's own telemetry and C2D topics. Ids go in as they
// are: the hub's id characters include none of MQTT's separators but '#'
// and '+', which a device's own topics may then hold literally.
func identityPrefix(k sessions.Key) string {
	p := "devices/" + k.DeviceID + "/"
	if k.ModuleID != "" {
		p += "modules/" + k.ModuleID + "/"
	}
	return p
}

// c2dFilter is the subscription that asks for an identity's C2D messages.
func c2dFilter(k sessions.Key) string { return identityPrefix(k) + messagesDevicebound + "#" }

// eventsBag returns the property bag of a telemetry topic of k, and
// whether topic is one.
func eventsBag(k sessions.Key, topic string) (string, bool) {
	return strings.CutPrefix(topic, identityPrefix(k)+messagesEvents)
}

// requestID reads "$rid" from the query part of a topic ("…/?$rid=1").
func requestID(topic string) string {
	return queryValue(topic, "$rid")
}

// queryValue reads key from the "?a=b&c=d" part of a topic.
func queryValue(topic, key string) string {
	_, q, ok := strings.Cut(topic, "?")
	if !ok {
		return ""
	}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if unescape(k) == key {
			return unescape(v)
		}
	}
	return ""
}

// parseBag reads a property bag: "k=v&k2=v2", percent-encoded as the
// official SDKs write it (encodeURIComponent: a '+' stays a '+'). A
// leading '?' is allowed, empty pairs are skipped, a key without '='
// has the empty value.
func parseBag(bag string) map[string]string {
	bag = strings.TrimPrefix(bag, "?")
	if bag == "" {
		return nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(bag, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k = unescape(k); k != "" {
			out[k] = unescape(v)
		}
	}
	return out
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// formatBag writes a property bag, keys sorted so that topics are
// deterministic, both sides percent-encoded.
func formatBag(props map[string]string) string {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(props[k]), "+", "%20"))
	}
	return b.String()
}

// methodRequestTopic is where the hub sends a direct method.
func methodRequestTopic(name, rid string) string {
	return topicMethodsPOST + name + "/?$rid=" + rid
}

// methodResponse reads "$iothub/methods/res/{status}/?$rid={rid}".
func methodResponse(topic string) (status int, rid string, ok bool) {
	rest, ok := strings.CutPrefix(topic, topicMethodsRes)
	if !ok {
		return 0, "", false
	}
	code, _, _ := strings.Cut(rest, "/")
	status, err := strconv.Atoi(code)
	if err != nil {
		return 0, "", false
	}
	return status, requestID(topic), true
}

// twinResponseTopic is where the hub answers a twin request.
func twinResponseTopic(status int, rid string, version int64) string {
	t := topicTwinRes + strconv.Itoa(status) + "/?$rid=" + rid
	if version > 0 {
		t += "&$version=" + strconv.FormatInt(version, 10)
	}
	return t
}

// desiredTopic is where the hub sends a desired-properties patch.
func desiredTopic(version int64) string {
	return topicTwinDesired + "?$version=" + strconv.FormatInt(version, 10)
}
