package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
	"github.com/iotkit-go/iothub/emulator/internal/listener"
)

// supportedAPIVersions are the api-version values the emulator answers.
// The REST shapes it serves are those of 2021-04-12, which the older
// versions listed here share for the operations emulated.
var supportedAPIVersions = map[string]bool{
	"2018-06-30":         true,
	"2019-03-30":         true,
	"2019-10-01":         true,
	"2020-03-13":         true,
	"2020-05-31-preview": true,
	"2020-06-30-preview": true,
	"2020-09-30":         true,
	"2021-04-12":         true,
}

// maxBodyBytes bounds request bodies (100 bulk entries with full twins fit).
const maxBodyBytes = 4 << 20

// route is a resolved request: what it needs and what serves it.
type route struct {
	need   Rights            // any of these rights authorizes a shared access signature
	action entra.DataActions // an Entra ID token needs all of these data actions
	form   errorForm         // the body shape of error answers
	serve  func(w http.ResponseWriter, r *http.Request) error
}

// ServeHTTP serves the hub's REST API. The emulator's own listener calls
// it; it is exported so that the emulator can also be mounted in an
// httptest.Server or behind another router.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if listener.IsWebSocketPath(r.URL.Path) {
		e.ports.ServeWebSocket(e.hub.BaseContext(), w, r)
		return
	}
	segments, pathErr := splitPath(r.URL)
	entry := &Request{Method: r.Method, Path: "/" + strings.Join(segments, "/"), Query: r.URL.RawQuery, Time: e.hub.Now()}
	e.reqlog.add(entry)
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		e.reqlog.setStatus(entry, sw.status())
		// The query may hold nothing secret, but the Authorization header
		// does: it is never logged.
		e.logger.Debug("emulator: request", "method", r.Method, "path", entry.Path, "status", sw.status(), "duration", e.hub.Now().Sub(entry.Time))
	}()

	if f := e.faults.take(r.Method, entry.Path); f != nil && applyFault(r.Context(), sw, f) {
		return
	}
	if pathErr != nil {
		writeError(sw, legacyForm, iothub.NewError(iothub.CodeArgumentInvalid, "The request path is not properly escaped"))
		return
	}
	if err := checkAPIVersion(r); err != nil {
		writeError(sw, legacyForm, err)
		return
	}
	rt, err := e.resolve(r.Method, segments)
	if err != nil {
		writeError(sw, legacyForm, err)
		return
	}
	if err := e.authorize(r, rt.need, rt.action); err != nil {
		writeError(sw, legacyForm, err)
		return
	}
	r.Body = http.MaxBytesReader(sw, r.Body, maxBodyBytes)
	if err := rt.serve(sw, r); err != nil {
		writeError(sw, rt.form, err)
	}
}

// splitPath returns the unescaped segments of the request path, so that
// ids holding '/', '#', '?' or '%' (escaped by the client) stay whole.
func splitPath(u *url.URL) ([]string, error) {
	p := strings.Trim(u.EscapedPath(), "/")
	if p == "" {
		return nil, nil
	}
	parts := strings.Split(p, "/")
	var firstErr error
	for i, s := range parts {
		d, err := url.PathUnescape(s)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		parts[i] = d
	}
	return parts, firstErr
}

func checkAPIVersion(r *http.Request) error {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return iothub.NewError(iothub.CodeInvalidProtocolVersion, "The api-version query parameter is required")
	}
	if !supportedAPIVersions[v] {
		return iothub.NewError(iothub.CodeInvalidProtocolVersion, "api-version '"+v+"' is not supported by this emulator; use "+iothub.DefaultAPIVersion)
	}
	return nil
}

// resolve maps a method and path to a route. A route's action is the data
// action Azure RBAC requires for the operation ("Permissions for IoT Hub
// service APIs"); bulk registry operations need both write and delete.
func (e *Emulator) resolve(method string, seg []string) (route, error) {
	type methods map[string]route
	var table methods
	switch {
	case len(seg) == 1 && seg[0] == "devices":
		table = methods{
			http.MethodGet:  {need: RegistryRead, action: entra.DevicesRead, serve: e.listDevices},
			http.MethodPost: {need: RegistryWrite, action: entra.DevicesWrite | entra.DevicesDelete, serve: e.bulkRegistry},
		}
	case len(seg) == 2 && seg[0] == "devices" && seg[1] == "query" && method == http.MethodPost:
		table = methods{
			http.MethodPost: {need: ServiceConnect | RegistryRead, action: entra.TwinsRead, form: structuredForm, serve: e.queryTwins},
		}
	case len(seg) == 2 && seg[0] == "devices":
		id := seg[1]
		table = methods{
			http.MethodGet:    {need: RegistryRead, action: entra.DevicesRead, serve: func(w http.ResponseWriter, r *http.Request) error { return e.getDevice(w, r, id) }},
			http.MethodPut:    {need: RegistryWrite, action: entra.DevicesWrite, serve: func(w http.ResponseWriter, r *http.Request) error { return e.putDevice(w, r, id) }},
			http.MethodDelete: {need: RegistryWrite, action: entra.DevicesDelete, serve: func(w http.ResponseWriter, r *http.Request) error { return e.deleteDevice(w, r, id) }},
		}
	case len(seg) == 3 && seg[0] == "devices" && seg[2] == "modules":
		id := seg[1]
		table = methods{
			http.MethodGet: {need: RegistryRead, action: entra.DevicesRead, serve: func(w http.ResponseWriter, r *http.Request) error { return e.listModules(w, r, id) }},
		}
	case len(seg) == 3 && seg[0] == "devices" && seg[2] == "commands":
		id := seg[1]
		table = methods{
			http.MethodDelete: {need: ServiceConnect, action: entra.C2DPurge, serve: func(w http.ResponseWriter, r *http.Request) error { return e.purgeCommands(w, r, id) }},
		}
	case len(seg) == 4 && seg[0] == "devices" && seg[2] == "modules":
		id, mid := seg[1], seg[3]
		table = methods{
			http.MethodGet:    {need: RegistryRead, action: entra.DevicesRead, serve: func(w http.ResponseWriter, r *http.Request) error { return e.getModule(w, r, id, mid) }},
			http.MethodPut:    {need: RegistryWrite, action: entra.DevicesWrite, serve: func(w http.ResponseWriter, r *http.Request) error { return e.putModule(w, r, id, mid) }},
			http.MethodDelete: {need: RegistryWrite, action: entra.DevicesDelete, serve: func(w http.ResponseWriter, r *http.Request) error { return e.deleteModule(w, r, id, mid) }},
		}
	case seg != nil && seg[0] == "twins" && (len(seg) == 3 && seg[2] == "methods" || len(seg) == 5 && seg[2] == "modules" && seg[4] == "methods"):
		id, mid := seg[1], ""
		if len(seg) == 5 {
			mid = seg[3]
		}
		table = methods{
			http.MethodPost: {need: ServiceConnect, action: entra.DirectMethodsInvoke, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return e.invokeMethod(w, r, id, mid) }},
		}
	case seg != nil && seg[0] == "twins" && (len(seg) == 2 || len(seg) == 4 && seg[2] == "modules"):
		id, mid := seg[1], ""
		if len(seg) == 4 {
			mid = seg[3]
		}
		table = methods{
			http.MethodGet:   {need: RegistryRead | ServiceConnect, action: entra.TwinsRead, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return e.getTwin(w, r, id, mid) }},
			http.MethodPatch: {need: RegistryWrite | ServiceConnect, action: entra.TwinsWrite, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return e.writeTwin(w, r, id, mid, false) }},
			http.MethodPut:   {need: RegistryWrite | ServiceConnect, action: entra.TwinsWrite, form: structuredForm, serve: func(w http.ResponseWriter, r *http.Request) error { return e.writeTwin(w, r, id, mid, true) }},
		}
	case len(seg) == 2 && seg[0] == "statistics" && seg[1] == "devices":
		table = methods{http.MethodGet: {need: RegistryRead, action: entra.StatisticsRead, serve: e.registryStatistics}}
	case len(seg) == 2 && seg[0] == "statistics" && seg[1] == "service":
		table = methods{http.MethodGet: {need: ServiceConnect | RegistryRead, action: entra.StatisticsRead, serve: e.serviceStatistics}}
	default:
		return route{}, &iothub.Error{StatusCode: http.StatusNotFound, Message: "The requested resource does not exist"}
	}
	rt, ok := table[method]
	if !ok {
		return route{}, &iothub.Error{StatusCode: http.StatusMethodNotAllowed, Message: "The method " + method + " is not allowed on this resource"}
	}
	return rt, nil
}

// readJSON decodes a request body into v (numbers as json.Number when v
// holds any). An empty or malformed body, or one of the wrong shape, is a
// 400004 ArgumentInvalid; an oversized one 413001 MessageTooLarge.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return iothub.NewError(iothub.CodeMessageTooLarge, "The request body is larger than the maximum allowed size")
		}
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request body could not be read")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request body is empty")
	}
	// null decodes into any Go value without an error, leaving it empty: a
	// PUT of a twin would then wipe it. No operation takes null.
	if bytes.Equal(trimmed, []byte("null")) {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request body is null; this operation takes "+jsonWord(reflect.TypeOf(v)))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request body is not valid JSON of the expected shape: "+jsonProblem(err))
	}
	if dec.More() {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The request body holds more than one JSON value")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body, in
// JSON's words rather than Go's.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return "field '" + te.Field + "' must be " + jsonWord(te.Type)
		}
		return "the body must be " + jsonWord(te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error"
	}
	return "malformed"
}

// jsonWord names the JSON kind a Go type decodes from.
func jsonWord(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a JSON string"
	case reflect.Bool:
		return "a JSON boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a JSON number"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	}
	return "a JSON value of another kind"
}

// writeJSON answers v with status and, when etag is set, an ETag header.
func writeJSON(w http.ResponseWriter, status int, v any, etag string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	if etag != "" {
		h.Set("ETag", `"`+etag+`"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// statusWriter remembers the status of the answer, for the request log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
