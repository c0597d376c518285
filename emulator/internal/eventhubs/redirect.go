package eventhubs

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
)

// redirect answers a receiver attached to messages/events on the IoT Hub
// address as IoT Hub does: the attach is refused with amqp:link:redirect
// whose info names the Event Hub-compatible endpoint. Captured from the
// service, the info is
//
//	hostname:     iothub-ns-<hub>-<id>-<hash>.servicebus.windows.net
//	network-host: the same
//	port:         5671
//	address:      amqps://<hostname>:5671/<entity><rest>
//
// (amqp:// when Options.AdvertisePlain says the endpoint is plain TCP)
// where <rest> is what followed messages/events in the client's address
// ("/$management", "/ConsumerGroups/$Default/Partitions/0", "/" or nothing).
// Clients take the entity name from the address and the host from hostname.
func (h *Hub) redirect(l *amqpserver.OutgoingLink) error {
	if err := h.authorizeAttach(l); err != nil {
		return err
	}
	return amqpserver.RedirectError(h.opts.AdvertiseHost, h.opts.AdvertiseHost, h.opts.AdvertisePort, h.redirectAddress(l.Address()))
}

// redirectAddress maps an address under messages/events to the same path
// under the Event Hub-compatible entity.
func (h *Hub) redirectAddress(addr string) string {
	path := addr
	if i := strings.Index(path, "://"); i >= 0 {
		path = path[i+3:]
		if j := strings.IndexByte(path, '/'); j >= 0 {
			path = path[j:]
		} else {
			path = ""
		}
	}
	path = strings.TrimPrefix(path, "/")
	const prefix = "messages/events"
	rest := ""
	if len(path) >= len(prefix) && strings.EqualFold(path[:len(prefix)], prefix) {
		rest = path[len(prefix):]
	}
	scheme := "amqps"
	if h.opts.AdvertisePlain {
		scheme = "amqp"
	}
	return fmt.Sprintf("%s://%s/%s%s", scheme, net.JoinHostPort(h.opts.AdvertiseHost, strconv.Itoa(h.opts.AdvertisePort)), h.opts.EntityName, rest)
}
