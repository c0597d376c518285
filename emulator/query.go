package emulator

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/query"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// querySpecJSON is the QuerySpecification object of the swagger.
type querySpecJSON struct {
	Query string `json:"query"`
}

// moduleTwins lets the query engine scan module twins.
type moduleTwins struct{ store *registry.Store }

func (m moduleTwins) Scan(after string, fn func(key string, doc map[string]any) bool) {
	m.store.ScanModules(after, fn)
}

// queryTwins serves POST /devices/query: one page of results, with the
// x-ms-max-item-count and x-ms-continuation request headers and the
// x-ms-item-type and x-ms-continuation answer headers.
func (e *Emulator) queryTwins(w http.ResponseWriter, r *http.Request) error {
	var spec querySpecJSON
	if err := readJSON(r, &spec); err != nil {
		return err
	}
	if strings.TrimSpace(spec.Query) == "" {
		return iothub.NewError(iothub.CodeArgumentInvalid, "The query is empty")
	}
	maxItems := 0
	if v := strings.TrimSpace(r.Header.Get("x-ms-max-item-count")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return iothub.NewError(iothub.CodeArgumentInvalid, "The x-ms-max-item-count header must be a non-negative integer")
		}
		maxItems = n
	}
	q, err := query.Parse(spec.Query)
	if err != nil {
		return iothub.NewError(iothub.CodeArgumentInvalid, err.Error())
	}
	var src query.Store = e.store
	if q.Source() == query.Modules {
		src = moduleTwins{e.store}
	}
	page, err := e.queries.Page(q, src, r.Header.Get("x-ms-continuation"), maxItems)
	if err != nil {
		if errors.Is(err, query.ErrBadContinuation) {
			return iothub.NewError(iothub.CodeArgumentInvalid, "The continuation token is invalid for this query")
		}
		return iothub.NewError(iothub.CodeArgumentInvalid, err.Error())
	}
	w.Header().Set("x-ms-item-type", q.ItemType())
	if page.Continuation != "" {
		w.Header().Set("x-ms-continuation", page.Continuation)
	}
	return writeJSON(w, http.StatusOK, page.Items, "")
}
