package twin

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"strconv"
	"strings"

	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/internal/transport"
)

// Query paging limits.
const (
	// DefaultPageSize is the page size when QueryOptions.PageSize is 0.
	DefaultPageSize = 100
	// MaxPageSize is the largest page the hub serves.
	MaxPageSize = 1000
)

// Item types of a query answer.
const (
	// ItemTypeTwin: whole twins (SELECT *).
	ItemTypeTwin = "twin"
	// ItemTypeRaw: projections and aggregates.
	ItemTypeRaw = "raw"
)

// QueryOptions tunes a query. A nil *QueryOptions accepts the defaults.
type QueryOptions struct {
	// PageSize is how many items the hub returns per request, 1 to
	// [MaxPageSize]. Default: [DefaultPageSize].
	PageSize int
	// ContinuationToken resumes a scan where an earlier page (maybe of
	// another process) stopped. Default: from the start.
	ContinuationToken string
}

// QueryPage is one page of a query's answer.
type QueryPage struct {
	// Items are the page's rows, as the hub sent them.
	Items []json.RawMessage
	// ItemType is [ItemTypeTwin] or [ItemTypeRaw].
	ItemType string
	// ContinuationToken fetches the next page; empty on the last one. It is
	// opaque: store it as it is.
	ContinuationToken string
}

// Query header names.
const (
	headerContinuation = "x-ms-continuation"
	headerMaxItemCount = "x-ms-max-item-count"
	headerItemType     = "x-ms-item-type"
)

// QueryPage runs query (in the IoT Hub query language) and returns one page
// of its answer. Pass the page's ContinuationToken in opts to get the next.
// A throttled or failed page is retried with the same token, so the
// position is never lost.
func (c *Client) QueryPage(ctx context.Context, query string, opts *QueryOptions) (*QueryPage, error) {
	var o QueryOptions
	if opts != nil {
		o = *opts
	}
	if strings.TrimSpace(query) == "" {
		return nil, ids.ArgumentInvalid("query is empty")
	}
	if o.PageSize < 0 || o.PageSize > MaxPageSize {
		return nil, ids.ArgumentInvalid("page size is %d; it must be between 1 and %d (0 for the default %d)", o.PageSize, MaxPageSize, DefaultPageSize)
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	h := http.Header{}
	h.Set(headerMaxItemCount, strconv.Itoa(o.PageSize))
	if o.ContinuationToken != "" {
		h.Set(headerContinuation, o.ContinuationToken)
	}
	page := &QueryPage{}
	resp, err := c.p.Do(ctx, &transport.Request{
		Method: http.MethodPost, Path: "/devices/query",
		Body:   map[string]string{"query": query},
		Header: h,
		// A query only reads: any transient failure may be repeated.
		Retry: transport.RetryIdempotent,
	}, &page.Items)
	if err != nil {
		return nil, err
	}
	page.ItemType = resp.Header.Get(headerItemType)
	page.ContinuationToken = resp.Header.Get(headerContinuation)
	return page, nil
}

// QueryRaw runs query and yields every row of every page, fetching pages as
// the loop asks for them, so a scan of millions of twins holds one page in
// memory. On failure it yields the error and stops.
func (c *Client) QueryRaw(ctx context.Context, query string, opts *QueryOptions) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		var o QueryOptions
		if opts != nil {
			o = *opts
		}
		for {
			page, err := c.QueryPage(ctx, query, &o)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, item := range page.Items {
				if !yield(item, nil) {
					return
				}
			}
			if page.ContinuationToken == "" {
				return
			}
			o.ContinuationToken = page.ContinuationToken
		}
	}
}

// Query runs a query of whole twins (SELECT * FROM devices or
// devices.modules) and yields every twin of every page. For projections
// and aggregates use [Client.QueryRaw] or [QueryAs].
func (c *Client) Query(ctx context.Context, query string, opts *QueryOptions) iter.Seq2[*Twin, error] {
	return QueryAs[*Twin](ctx, c, query, opts)
}

// QueryAs runs query and yields each row decoded into a T, for projections
// ("SELECT deviceId, properties.reported.fw AS fw …") and aggregates
// ("SELECT COUNT() AS n …"). A row that does not decode yields an error and
// stops the loop.
func QueryAs[T any](ctx context.Context, c *Client, query string, opts *QueryOptions) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for raw, err := range c.QueryRaw(ctx, query, opts) {
			var v T
			if err != nil {
				yield(v, err)
				return
			}
			if err := json.Unmarshal(raw, &v); err != nil {
				yield(v, fmt.Errorf("iothub: decoding query row into %T: %w", v, err))
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}
