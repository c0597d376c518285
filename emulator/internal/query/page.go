package query

import (
	"crypto/rand"
	"encoding/json"
	"slices"
)

// Page sizes, as for the hub's x-ms-max-item-count header. The service SDKs
// document a page size of up to 1000.
const (
	// DefaultPageSize is used when the caller asks for 0 (or fewer) items.
	DefaultPageSize = 100
	// MaxPageSize caps a page; larger requests are served 1000 at a time.
	MaxPageSize = 1000
)

// Store is a key-ordered collection of twin documents, provided by the
// emulator. Keys must be non-empty and unique (for example deviceId, or
// deviceId + "/" + moduleId).
type Store interface {
	// Scan calls fn for each document whose key is greater than after, in
	// ascending key order, until fn returns false. after == "" scans from the
	// start. fn must not modify doc.
	Scan(after string, fn func(key string, doc map[string]any) bool)
}

// MatchScanner is a Store that tests a WHERE clause itself, on a view of
// each document it need not build (the registry evaluates it on the
// twin's own state under its lock), and builds documents only for the
// matches. The view holds every field of the document except the
// $metadata and $version of properties.desired and properties.reported;
// the engine uses it only for conditions that do not read those.
type MatchScanner interface {
	// ScanMatching is Scan over the documents match accepts; match must
	// neither keep nor modify the view it is given.
	ScanMatching(after string, match func(view map[string]any) bool, fn func(key string, doc map[string]any) bool)
}

// scanMatches calls fn with each document after after that q's WHERE
// clause accepts, in key order, until fn returns false: through the
// store's MatchScanner when it has one and the condition allows, otherwise
// by testing each document.
func scanMatches(q *Query, store Store, after string, fn func(key string, doc map[string]any) bool) {
	if ms, ok := store.(MatchScanner); ok && q.where != nil && q.whereOnViews() {
		ms.ScanMatching(after, q.Matches, fn)
		return
	}
	store.Scan(after, func(key string, doc map[string]any) bool {
		if !q.Matches(doc) {
			return true
		}
		return fn(key, doc)
	})
}

// EngineOptions configures an Engine. A nil *EngineOptions accepts the
// defaults.
type EngineOptions struct {
	// Secret keys the HMAC of continuation tokens. Tokens from an engine with
	// another secret are rejected.
	// Default: 32 random bytes, so tokens do not survive a restart.
	Secret []byte
}

// Engine runs parsed queries page by page. It holds no per-query state, so
// it is safe for concurrent use and a continuation token is all a client
// needs to resume.
type Engine struct {
	secret []byte
}

// NewEngine returns an Engine configured by opts (nil for the defaults).
func NewEngine(opts *EngineOptions) *Engine {
	var secret []byte
	if opts != nil && len(opts.Secret) > 0 {
		secret = append([]byte(nil), opts.Secret...)
	} else {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+)
	}
	return &Engine{secret: secret}
}

// Result is one page of query results.
type Result struct {
	// Items are the rows, each a JSON object: a twin for SELECT *, otherwise a
	// projection or aggregate row.
	Items []json.RawMessage
	// Continuation is the opaque token for the next page (the hub's
	// x-ms-continuation header); empty on the last page.
	Continuation string
}

// Page returns up to maxItems rows of q over store, starting at continuation
// ("" for the first page). maxItems <= 0 means DefaultPageSize; values above
// MaxPageSize are capped.
//
// Non-aggregate queries resume strictly after the store key of the last row
// returned, so a document present for the whole scan is returned exactly
// once, whatever is inserted or deleted between pages; documents inserted
// behind the cursor are not seen, documents inserted ahead of it are.
// Aggregate queries (COUNT, GROUP BY) are recomputed over the whole store on
// every page and resume strictly after the last group key returned: a group
// appears at most once, with the counts of the moment its page was computed.
// TOP n holds across pages. A bad continuation yields an error wrapping
// ErrBadContinuation.
func (e *Engine) Page(q *Query, store Store, continuation string, maxItems int) (*Result, error) {
	var cur cursor
	if continuation != "" {
		var err error
		if cur, err = e.decodeToken(q, continuation); err != nil {
			return nil, err
		}
	}
	limit := maxItems
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if limit > MaxPageSize {
		limit = MaxPageSize
	}
	if q.top >= 0 && q.top-cur.returned < limit {
		limit = max(q.top-cur.returned, 0)
	}
	res := &Result{Items: []json.RawMessage{}}
	if limit == 0 {
		return res, nil
	}
	var (
		last string
		more bool
		err  error
	)
	if q.aggregate {
		last, more, err = e.aggregatePage(q, store, cur, limit, res)
	} else {
		last, more, err = e.scanPage(q, store, cur, limit, res)
	}
	if err != nil {
		return nil, err
	}
	returned := cur.returned + len(res.Items)
	if more && (q.top < 0 || returned < q.top) {
		res.Continuation = e.encodeToken(q, cursor{after: last, returned: returned})
	}
	return res, nil
}

// scanPage collects up to limit matching documents after cur.after and looks
// one match further to learn whether another page exists.
func (e *Engine) scanPage(q *Query, store Store, cur cursor, limit int, res *Result) (last string, more bool, err error) {
	scanMatches(q, store, cur.after, func(key string, doc map[string]any) bool {
		if len(res.Items) == limit {
			more = true
			return false
		}
		var item json.RawMessage
		if item, err = marshalRow(q.project(doc), q.rowSizeHint()); err != nil {
			return false
		}
		res.Items = append(res.Items, item)
		last = key
		return true
	})
	return last, more, err
}

func (e *Engine) aggregatePage(q *Query, store Store, cur cursor, limit int, res *Result) (last string, more bool, err error) {
	groups, err := q.aggregateGroups(func(fn func(string, map[string]any) bool) { scanMatches(q, store, "", fn) })
	if err != nil {
		return "", false, err
	}
	start := 0
	if cur.after != "" {
		start, _ = slices.BinarySearchFunc(groups, cur.after, func(g *group, after string) int {
			if g.key <= after {
				return -1
			}
			return 1
		})
	}
	for _, gr := range groups[start:] {
		if len(res.Items) == limit {
			return last, true, nil
		}
		item, err := marshalRow(q.groupResult(gr), 64*len(q.items))
		if err != nil {
			return "", false, err
		}
		res.Items = append(res.Items, item)
		last = gr.key
	}
	return last, false, nil
}

// rowSizeHint is a starting buffer size for one encoded row: twins are
// typically 1-2 KB, projections far smaller.
func (q *Query) rowSizeHint() int {
	if q.selectAll {
		return 2048
	}
	return 64 * len(q.items)
}
