package emulator

import (
	"net/http"

	"github.com/iotkit-go/iothub/emulator/internal/listener"
)

// ServeHTTP serves the hub's REST API. The emulator's own listener calls
// it; it is exported so that the emulator can also be mounted in an
// httptest.Server or behind another router.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if listener.IsWebSocketPath(r.URL.Path) {
		e.ports.ServeWebSocket(e.hub.BaseContext(), w, r)
		return
	}
	e.rest.ServeHTTP(w, r)
}
