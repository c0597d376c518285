package servicerest

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub"
)

// querySpecJSON is the QuerySpecification object of the swagger.
type querySpecJSON struct {
	Query string `json:"query"`
}

// queryTwins serves POST /devices/query: one page of results, with the
// x-ms-max-item-count and x-ms-continuation request headers and the
// x-ms-item-type and x-ms-continuation answer headers.
func (h *Handler) queryTwins(w http.ResponseWriter, r *http.Request) error {
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
	itemType, page, err := h.hub.QueryTwins(spec.Query, r.Header.Get("x-ms-continuation"), maxItems)
	if err != nil {
		return err
	}
	w.Header().Set("x-ms-item-type", itemType)
	if page.Continuation != "" {
		w.Header().Set("x-ms-continuation", page.Continuation)
	}
	return writeJSON(w, http.StatusOK, page.Items, "")
}
