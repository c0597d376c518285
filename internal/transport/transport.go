package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/ids"
)

// Version is the SDK version sent in the User-Agent header.
const Version = "0.1.0"

// MaxConnsPerHost bounds the TCP connections the default HTTP client opens
// to the hub, so that a burst of concurrent calls queues instead of opening a
// connection each.
const MaxConnsPerHost = 32

// RetryMode says which failures of a request may be repeated.
type RetryMode int

const (
	// RetryNever sends the request once.
	RetryNever RetryMode = iota
	// RetryIdempotent repeats on network errors, 408, 429, 500, 502, 503 and
	// 504: for reads and for writes that are safe to repeat (a PUT with an
	// ETag, a DELETE).
	RetryIdempotent
	// RetryUnsent repeats only when the request certainly did not take
	// effect: a 429 answer or a failure to connect. For calls that must not
	// run twice, such as direct methods.
	RetryUnsent
)

// Config is what a Pipeline needs.
type Config struct {
	// HostName is the hub's host, optionally with a port.
	HostName string
	// Credential authorises requests; the audience asked for is HostName.
	Credential auth.Credential
	// PlainHTTP selects http:// instead of https://; only for the local
	// emulator (UseDevelopmentEmulator).
	PlainHTTP bool
	// Options are the caller's client options; nil accepts the defaults.
	Options *iothub.ClientOptions
}

// Pipeline sends requests to one hub. It is safe for concurrent use.
type Pipeline struct {
	client     *resty.Client
	host       string
	cred       auth.Credential
	apiVersion string
	retry      iothub.RetryOptions
	logger     *slog.Logger
	userAgent  string
}

// New validates cfg and returns a Pipeline.
func New(cfg Config) (*Pipeline, error) {
	if cfg.HostName == "" {
		return nil, errors.New("iothub: host name is empty")
	}
	if strings.ContainsAny(cfg.HostName, "/?#@ \t\r\n") {
		return nil, fmt.Errorf("iothub: host name %q is not a host[:port]", cfg.HostName)
	}
	if cfg.Credential == nil {
		return nil, errors.New("iothub: credential is nil")
	}
	var opts iothub.ClientOptions
	if cfg.Options != nil {
		opts = *cfg.Options
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient(opts)
	}
	scheme := "https://"
	if cfg.PlainHTTP {
		scheme = "http://"
	}
	rc := resty.NewWithClient(hc).
		SetBaseURL(scheme + cfg.HostName).
		SetLogger(discardLogger{}).
		SetDisableWarn(true).
		SetRetryCount(0)
	p := &Pipeline{
		client:     rc,
		host:       cfg.HostName,
		cred:       cfg.Credential,
		apiVersion: opts.APIVersion,
		retry:      opts.Retry.WithDefaults(),
		logger:     opts.Logger,
		userAgent:  userAgent(opts.UserAgent),
	}
	if p.apiVersion == "" {
		p.apiVersion = iothub.DefaultAPIVersion
	}
	return p, nil
}

func defaultHTTPClient(opts iothub.ClientOptions) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxConnsPerHost = MaxConnsPerHost
	t.MaxIdleConnsPerHost = MaxConnsPerHost
	if opts.TLSConfig != nil {
		t.TLSClientConfig = opts.TLSConfig.Clone()
	}
	// No Client.Timeout: each request's context carries its deadline, and a
	// direct method may legitimately take minutes.
	return &http.Client{Transport: t}
}

func userAgent(prefix string) string {
	ua := fmt.Sprintf("iothub-go/%s (%s; %s/%s)", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if prefix != "" {
		ua = prefix + " " + ua
	}
	return ua
}

// HostName returns the hub's host (and port) the pipeline talks to.
func (p *Pipeline) HostName() string { return p.host }

// Request describes one REST call.
type Request struct {
	// Method is the HTTP method.
	Method string
	// Path is the URL path, with every caller-supplied segment already
	// escaped (use [PathEscape]).
	Path string
	// Query holds extra query parameters; api-version is added.
	Query url.Values
	// Body is marshalled to JSON when not nil; a []byte or json.RawMessage
	// is sent as is.
	Body any
	// IfMatch, when not empty, is sent as the If-Match header (see [IfMatch]).
	IfMatch string
	// Header holds extra request headers.
	Header http.Header
	// Retry says which failures may be repeated.
	Retry RetryMode
	// Timeout, when positive, bounds each attempt.
	Timeout time.Duration
	// Statuses lists non-2xx statuses whose answer the caller decodes itself
	// (the bulk registry API answers 400 with per-device results).
	Statuses []int
}

// Response is a successful answer.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends req, repeating it per req.Retry and the pipeline's RetryOptions,
// and decodes a 2xx JSON body into out when out is not nil. Any non-2xx
// answer is returned as an *iothub.Error.
func (p *Pipeline) Do(ctx context.Context, req *Request, out any) (*Response, error) {
	var body []byte
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		body = b
	case json.RawMessage:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			// A value JSON cannot hold (NaN, a channel…): the caller's
			// argument is at fault, as for a method payload.
			return nil, ids.ArgumentInvalid("the %s %s request does not encode as JSON: %v", req.Method, req.Path, err)
		}
	}
	requestID := ids.NewUUID()
	for attempt := 0; ; attempt++ {
		resp, err := p.attempt(ctx, req, body, requestID, attempt)
		if err == nil {
			if out != nil && len(resp.Body) > 0 {
				if err := json.Unmarshal(resp.Body, out); err != nil {
					return resp, fmt.Errorf("iothub: decoding %s %s answer: %w", req.Method, req.Path, err)
				}
			}
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if attempt >= p.retry.MaxRetries || !shouldRetry(req.Retry, err) {
			return nil, err
		}
		var retryAfter time.Duration
		var he *iothub.Error
		if errors.As(err, &he) {
			retryAfter = he.RetryAfter
		}
		wait := p.retry.Backoff(attempt+1, retryAfter)
		p.log(ctx, "iothub: retrying request", slog.String("method", req.Method), slog.String("path", req.Path),
			slog.Int("retry", attempt+1), slog.Duration("wait", wait), slog.String("error", err.Error()),
			slog.String("request_id", requestID))
		if err := iothub.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func shouldRetry(mode RetryMode, err error) bool {
	switch mode {
	case RetryIdempotent:
		return iothub.IsRetriable(err)
	case RetryUnsent:
		var he *iothub.Error
		if errors.As(err, &he) {
			return he.StatusCode == http.StatusTooManyRequests
		}
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	return false
}

func (p *Pipeline) attempt(ctx context.Context, req *Request, body []byte, requestID string, attempt int) (*Response, error) {
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	tok, err := p.cred.Token(ctx, p.host)
	if err != nil {
		return nil, fmt.Errorf("iothub: getting a token for %s: %w", p.host, err)
	}
	// The body is read here, not by resty: resty would test the answer's
	// Content-Type against its JSON and XML regular expressions on every
	// response, for a decoding this pipeline does itself.
	r := p.client.R().
		SetDoNotParseResponse(true).
		SetContext(ctx).
		SetHeader("Authorization", auth.AuthorizationHeader(tok)).
		SetHeader("Request-Id", requestID).
		SetHeader("User-Agent", p.userAgent).
		SetHeader("Accept", "application/json").
		SetQueryParam("api-version", p.apiVersion)
	if len(req.Query) > 0 {
		r.SetQueryParamsFromValues(req.Query)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if req.IfMatch != "" {
		r.SetHeader("If-Match", req.IfMatch)
	}
	if body != nil {
		r.SetHeader("Content-Type", "application/json; charset=utf-8").SetBody(body)
	}
	start := time.Now()
	resp, err := r.Execute(req.Method, req.Path)
	elapsed := time.Since(start)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error repeats the URL; ours carries nothing secret but
			// is noise. Keep the operation and the cause.
			err = fmt.Errorf("iothub: %s %s: %w", req.Method, req.Path, ue.Err)
		} else {
			err = fmt.Errorf("iothub: %s %s: %w", req.Method, req.Path, err)
		}
		p.log(ctx, "iothub: request failed", slog.String("method", req.Method), slog.String("path", req.Path),
			slog.Int("attempt", attempt+1), slog.Duration("elapsed", elapsed), slog.String("error", err.Error()),
			slog.String("request_id", requestID))
		return nil, err
	}
	raw := resp.RawBody()
	respBody, err := io.ReadAll(raw)
	raw.Close()
	if err != nil {
		err = fmt.Errorf("iothub: %s %s: reading the answer: %w", req.Method, req.Path, err)
		p.log(ctx, "iothub: request failed", slog.String("method", req.Method), slog.String("path", req.Path),
			slog.Int("attempt", attempt+1), slog.Duration("elapsed", time.Since(start)), slog.String("error", err.Error()),
			slog.String("request_id", requestID))
		return nil, err
	}
	status := resp.StatusCode()
	p.log(ctx, "iothub: request", slog.String("method", req.Method), slog.String("path", req.Path),
		slog.Int("status", status), slog.Int("attempt", attempt+1), slog.Duration("elapsed", elapsed),
		slog.String("request_id", requestID))
	if (status < 200 || status > 299) && !slices.Contains(req.Statuses, status) {
		return nil, DecodeError(status, resp.Header(), respBody)
	}
	return &Response{StatusCode: status, Header: resp.Header(), Body: respBody}, nil
}

func (p *Pipeline) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if p.logger == nil || !p.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	p.logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// discardLogger silences resty's own logging, which could print request
// details; the pipeline logs through the caller's slog.Logger instead.
type discardLogger struct{}

func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Debugf(string, ...any) {}
