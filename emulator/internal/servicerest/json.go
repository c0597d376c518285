package servicerest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"

	"github.com/iotkit-go/iothub"
)

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
