package servicerest

import (
	"net/http"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/core"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

// route is a resolved request: what it needs and what serves it.
type route struct {
	need   core.Rights       // any of these rights authorizes a shared access signature
	action entra.DataActions // an Entra ID token needs all of these data actions
	form   errorForm         // the body shape of error answers
	serve  func(w http.ResponseWriter, r *http.Request) error
}

// resolve maps a method and path to a route. A route's action is the data
// action Azure RBAC requires for the operation ("Permissions for IoT Hub
// service APIs"); bulk registry operations need both write and delete.
func (h *Handler) resolve(method string, seg []string) (route, error) {
	type methods map[string]route
	var table methods
	switch {
	case len(seg) == 1 && seg[0] == "devices":
		table = methods{
			http.MethodGet:  {need: core.RegistryRead, action: entra.DevicesRead, serve: h.listDevices},
			http.MethodPost: {need: core.RegistryWrite, action: entra.DevicesWrite | entra.DevicesDelete, serve: h.bulkRegistry},
		}
	case len(seg) == 2 && seg[0] == "devices" && seg[1] == "query" && method == http.MethodPost:
		table = methods{
			http.MethodPost: {need: core.ServiceConnect | core.RegistryRead, action: entra.TwinsRead, form: structuredForm, serve: h.queryTwins},
		}
	case len(seg) == 2 && seg[0] == "devices":
		id := seg[1]
		table = methods{
			http.MethodGet:    {need: core.RegistryRead, action: entra.DevicesRead, serve: func(w http.ResponseWriter, r *http.Request) error { return h.getDevice(w, r, id) }},
			http.MethodPut:    {need: core.RegistryWrite, action: entra.DevicesWrite, serve: func(w http.ResponseWriter, r *http.Request) error { return h.putDevice(w, r, id) }},
			http.MethodDelete: {need: core.RegistryWrite, action: entra.DevicesDelete, serve: func(w http.ResponseWriter, r *http.Request) error { return h.deleteDevice(w, r, id) }},
		}
	case len(seg) == 3 && seg[0] == "devices" && seg[2] == "modules":
		id := seg[1]
		table = methods{
			http.MethodGet: {need: core.RegistryRead, action: entra.DevicesRead, serve: func(w http.ResponseWriter, r *http.Request) error { return h.listModules(w, r, id) }},
		}
	case len(seg) == 3 && seg[0] == "devices" && seg[2] == "commands":
		id := seg[1]
		table = methods{
			http.MethodDelete: {need: core.ServiceConnect, action: entra.C2DPurge, serve: func(w http.ResponseWriter, r *http.Request) error { return h.purgeCommands(w, r, id) }},
		}
	case len(seg) == 4 && seg[0] == "devices" && seg[2] == "modules":
		id, mid := seg[1], seg[3]
		table = methods{
			http.MethodGet:    {need: core.RegistryRead, action: entra.DevicesRead, serve: func(w http.ResponseWriter, r *http.Request) error { return h.getModule(w, r, id, mid) }},
			http.MethodPut:    {need: core.RegistryWrite, action: entra.DevicesWrite, serve: func(w http.ResponseWriter, r *http.Request) error { return h.putModule(w, r, id, mid) }},
			http.MethodDelete: {need: core.RegistryWrite, action: entra.DevicesDelete, serve: func(w http.ResponseWriter, r *http.Request) error { return h.deleteModule(w, r, id, mid) }},
		}
	case seg != nil && seg[0] == "twins" && (len(seg) == 3 && seg[2] == "methods" || len(seg) == 5 && seg[2] == "modules" && seg[4] == "methods"):
		id, mid := seg[1], ""
		if len(seg) == 5 {
			mid = seg[3]
		}
		table = methods{
			http.MethodPost: {need: core.ServiceConnect, action: entra.DirectMethodsInvoke, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return h.invokeMethod(w, r, id, mid) }},
		}
	case seg != nil && seg[0] == "twins" && (len(seg) == 2 || len(seg) == 4 && seg[2] == "modules"):
		id, mid := seg[1], ""
		if len(seg) == 4 {
			mid = seg[3]
		}
		table = methods{
			http.MethodGet:   {need: core.RegistryRead | core.ServiceConnect, action: entra.TwinsRead, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return h.getTwin(w, r, id, mid) }},
			http.MethodPatch: {need: core.RegistryWrite | core.ServiceConnect, action: entra.TwinsWrite, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return h.writeTwin(w, r, id, mid, false) }},
			http.MethodPut:   {need: core.RegistryWrite | core.ServiceConnect, action: entra.TwinsWrite, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return h.writeTwin(w, r, id, mid, true) }},
		}
	case len(seg) == 2 && seg[0] == "statistics" && seg[1] == "devices":
		table = methods{http.MethodGet: {need: core.RegistryRead, action: entra.StatisticsRead, serve: h.registryStatistics}}
	case len(seg) == 2 && seg[0] == "statistics" && seg[1] == "service":
		table = methods{http.MethodGet: {need: core.ServiceConnect | core.RegistryRead, action: entra.StatisticsRead, serve: h.serviceStatistics}}
	default:
		return route{}, &iothub.Error{StatusCode: http.StatusNotFound, Message: "The requested resource does not exist"}
	}
	rt, ok := table[method]
	if !ok {
		return route{}, &iothub.Error{StatusCode: http.StatusMethodNotAllowed, Message: "The method " + method + " is not allowed on this resource"}
	}
	return rt, nil
}
