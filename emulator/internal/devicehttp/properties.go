package devicehttp

import (
	"net/http"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/eventhubs"
)

// appPropertyPrefix starts the name of every header (and batch property)
// that carries an application property.
const appPropertyPrefix = "iothub-app-"

// creationTimeProperty is the application property the hub stamps a
// message's creation time into, whatever the protocol that carried it
// (MQTT's $.ctime, HTTPS's iothub-creationtimeutc).
const creationTimeProperty = "iothub-creation-time-utc"

// setProperty applies one property of a device's message, named as the
// HTTPS API names it, to ev: iothub-app-{name} is the application property
// {name}; iothub-messageid, iothub-correlationid, iothub-contenttype,
// iothub-contentencoding and iothub-creationtimeutc are system properties
// (the C# SDK's names); every other name (iothub-to, iothub-userid,
// iothub-ack, iothub-expiry, dt-subject, …) the hub sets itself or drops,
// as the MQTT front end drops the like. It reports whether it used it.
func setProperty(ev *eventhubs.Event, name, value string) bool {
	lower := strings.ToLower(name)
	switch lower {
	case "iothub-messageid":
		ev.MessageID = value
	case "iothub-correlationid":
		ev.CorrelationID = value
	case "iothub-contenttype":
		ev.ContentType = value
	case "iothub-contentencoding":
		ev.ContentEncoding = value
	case "iothub-creationtimeutc":
		addProperty(ev, creationTimeProperty, value)
	default:
		app, ok := strings.CutPrefix(lower, appPropertyPrefix)
		if !ok || app == "" {
			return false
		}
		addProperty(ev, name[len(appPropertyPrefix):], value)
	}
	return true
}

func addProperty(ev *eventhubs.Event, name, value string) {
	if ev.Properties == nil {
		ev.Properties = map[string]any{}
	}
	ev.Properties[name] = value
}

// headerEvent builds the event of a single message from its request
// headers. names maps a header's canonical name to the name the client
// sent, where it is known: Go's HTTP server canonicalises header names
// ("iothub-app-alertType" arrives as "Iothub-App-Alerttype"), and an
// application property's name is case-sensitive. Without the client's
// spelling the name is lower-cased, the spelling every SDK uses for the
// prefix.
func headerEvent(header http.Header, names func(canonical string) (string, bool)) eventhubs.Event {
	var ev eventhubs.Event
	for canonical, values := range header {
		if len(values) == 0 {
			continue
		}
		name, ok := "", false
		if names != nil {
			name, ok = names(canonical)
		}
		if !ok {
			name = strings.ToLower(canonical)
		}
		setProperty(&ev, name, values[0])
	}
	return ev
}
