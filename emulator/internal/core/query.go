package core

import (
	"errors"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/emulator/internal/query"
	"github.com/iotkit-go/iothub/emulator/internal/registry"
)

// moduleTwins lets the query engine scan module twins.
type moduleTwins struct{ store *registry.Store }

func (m moduleTwins) Scan(after string, fn func(key string, doc map[string]any) bool) {
	m.store.ScanModules(after, fn)
}

// ScanMatching implements query.MatchScanner.
func (m moduleTwins) ScanMatching(after string, match func(map[string]any) bool, fn func(key string, doc map[string]any) bool) {
	m.store.ScanModulesMatching(after, match, fn)
}

// QueryTwins runs one page of a query over the device or module twins,
// from continuation ("" for the first page), of at most maxItems rows (0
// for the default). It returns the item type of the rows (the hub's
// x-ms-item-type) and the page; a query it cannot parse or a bad
// continuation is a 400004 ArgumentInvalid.
func (h *Hub) QueryTwins(text, continuation string, maxItems int) (string, *query.Result, error) {
	q, err := query.Parse(text)
	if err != nil {
		return "", nil, iothub.NewError(iothub.CodeArgumentInvalid, err.Error())
	}
	var src query.Store = h.store
	if q.Source() == query.Modules {
		src = moduleTwins{h.store}
	}
	page, err := h.queries.Page(q, src, continuation, maxItems)
	if err != nil {
		if errors.Is(err, query.ErrBadContinuation) {
			return "", nil, iothub.NewError(iothub.CodeArgumentInvalid, "The continuation token is invalid for this query")
		}
		return "", nil, iothub.NewError(iothub.CodeArgumentInvalid, err.Error())
	}
	return q.ItemType(), page, nil
}
