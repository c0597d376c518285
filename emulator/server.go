package emulator

import (
	"net/http"

	"github.com/iotkit-go/iothub/emulator/internal/devicehttp"
	"github.com/iotkit-go/iothub/emulator/internal/listener"
)

// ServeHTTP serves the hub's REST APIs: the device API's paths
// (/devices/{id}/messages/…, /devices/{id}/files…) to the device HTTPS
// front end, the rest to the service REST API. The emulator's own listener calls
// it; it is exported so that the emulator can also be mounted in an
// httptest.Server or behind another router.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if listener.IsWebSocketPath(r.URL.Path) {
		e.ports.ServeWebSocket(e.hub.BaseContext(), w, r)
		return
	}
	if devicehttp.IsDevicePath(r.URL.EscapedPath()) {
		e.devices.ServeHTTP(w, r)
		return
	}
	e.rest.ServeHTTP(w, r)
}
