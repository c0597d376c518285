package methods

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/internal/transport"
)

// Limits of a direct method call, as the hub sets them.
const (
	MaxPayloadSize         = 128 * 1024
	DefaultResponseTimeout = 30 * time.Second
	MinResponseTimeout     = 5 * time.Second
	MaxResponseTimeout     = 300 * time.Second
	MaxConnectTimeout      = 300 * time.Second
	// deadlineMargin is added to the hub's own time-outs for the HTTP
	// request, so that the hub's answer (404103, 504101) arrives before the
	// client gives up.
	deadlineMargin = 15 * time.Second
)

// Client invokes direct methods on one hub. It is safe for concurrent use;
// create one and share it: its calls share a bounded pool of connections.
type Client struct {
	p *transport.Pipeline
}

// NewClient returns a client for the hub at hostName, authorised by cred,
// over HTTPS. opts may be nil. An HTTPClient given in opts must have no
// Timeout shorter than the longest call (connect + response time-out + 15 s).
func NewClient(hostName string, cred auth.Credential, opts *iothub.ClientOptions) (*Client, error) {
	p, err := transport.New(transport.Config{HostName: hostName, Credential: cred, Options: opts})
	if err != nil {
		return nil, err
	}
	return &Client{p: p}, nil
}

// NewClientFromConnectionString returns a client for the hub and policy of a
// service connection string (the policy needs ServiceConnect).
func NewClientFromConnectionString(connectionString string, opts *iothub.ClientOptions) (*Client, error) {
	p, err := transport.NewFromConnectionString(connectionString, opts)
	if err != nil {
		return nil, err
	}
	return &Client{p: p}, nil
}

// Request is a direct method call.
type Request struct {
	// MethodName is the method to invoke. Required.
	MethodName string
	// Payload is sent to the device: nil (JSON null), a json.RawMessage
	// sent as is, or any value encoding/json can marshal. At most 128 KB
	// once encoded.
	Payload any
	// ResponseTimeout is how long the hub waits for the device's answer
	// once connected, 5 s to 300 s, in whole seconds (rounded up).
	// Default: 30 s.
	ResponseTimeout time.Duration
	// ConnectTimeout is how long the hub waits for an offline device to
	// connect, 0 to 300 s. Default: 0 (an offline device fails at once with
	// ErrDeviceNotOnline).
	ConnectTimeout time.Duration
}

// Response is the device's answer.
type Response struct {
	// Status is the status the device's handler returned; any value, not
	// only HTTP's.
	Status int `json:"status"`
	// Payload is the JSON the device answered with (JSON null when none).
	Payload json.RawMessage `json:"payload"`
}

// Decode unmarshals the payload into v.
func (r *Response) Decode(v any) error {
	if len(r.Payload) == 0 {
		return fmt.Errorf("iothub: method response has no payload")
	}
	return json.Unmarshal(r.Payload, v)
}

// wireRequest is CloudToDeviceMethod.
type wireRequest struct {
	MethodName               string          `json:"methodName"`
	Payload                  json.RawMessage `json:"payload"`
	ResponseTimeoutInSeconds int             `json:"responseTimeoutInSeconds"`
	ConnectTimeoutInSeconds  int             `json:"connectTimeoutInSeconds"`
}

// Invoke calls a direct method on device deviceID and returns its answer.
func (c *Client) Invoke(ctx context.Context, deviceID string, req *Request) (*Response, error) {
	if err := ids.Device(deviceID); err != nil {
		return nil, err
	}
	return c.invoke(ctx, "/twins/"+transport.PathEscape(deviceID)+"/methods", req)
}

// InvokeModule calls a direct method on module moduleID of device deviceID.
func (c *Client) InvokeModule(ctx context.Context, deviceID, moduleID string, req *Request) (*Response, error) {
	if err := ids.Module(deviceID, moduleID); err != nil {
		return nil, err
	}
	return c.invoke(ctx, "/twins/"+transport.PathEscape(deviceID)+"/modules/"+transport.PathEscape(moduleID)+"/methods", req)
}

func (c *Client) invoke(ctx context.Context, path string, req *Request) (*Response, error) {
	wire, err := encode(req)
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(wire.ResponseTimeoutInSeconds+wire.ConnectTimeoutInSeconds)*time.Second + deadlineMargin
	out := new(Response)
	_, err = c.p.Do(ctx, &transport.Request{
		Method: http.MethodPost, Path: path, Body: wire,
		Retry:   transport.RetryUnsent,
		Timeout: timeout,
	}, out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// encode checks req against the hub's rules and builds the wire form.
func encode(req *Request) (*wireRequest, error) {
	if req == nil {
		return nil, ids.ArgumentInvalid("method request is nil")
	}
	if req.MethodName == "" {
		return nil, ids.ArgumentInvalid("method name is empty")
	}
	w := &wireRequest{MethodName: req.MethodName}
	switch p := req.Payload.(type) {
	case nil:
		w.Payload = json.RawMessage("null")
	case json.RawMessage:
		if !json.Valid(p) {
			return nil, ids.ArgumentInvalid("payload of method %q is not valid JSON", req.MethodName)
		}
		w.Payload = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, ids.ArgumentInvalid("payload of method %q does not encode as JSON: %v", req.MethodName, err)
		}
		w.Payload = b
	}
	if len(w.Payload) > MaxPayloadSize {
		return nil, &iothub.Error{StatusCode: 413, Code: iothub.CodeMessageTooLarge, Name: iothub.CodeMessageTooLarge.String(),
			Message: fmt.Sprintf("payload of method %q is %d bytes once encoded; the hub allows at most %d", req.MethodName, len(w.Payload), MaxPayloadSize)}
	}
	rt := req.ResponseTimeout
	if rt == 0 {
		rt = DefaultResponseTimeout
	}
	if rt < MinResponseTimeout || rt > MaxResponseTimeout {
		return nil, ids.ArgumentInvalid("response timeout %v of method %q is outside %v to %v", rt, req.MethodName, MinResponseTimeout, MaxResponseTimeout)
	}
	if req.ConnectTimeout < 0 || req.ConnectTimeout > MaxConnectTimeout {
		return nil, ids.ArgumentInvalid("connect timeout %v of method %q is outside 0 to %v", req.ConnectTimeout, req.MethodName, MaxConnectTimeout)
	}
	w.ResponseTimeoutInSeconds = seconds(rt)
	w.ConnectTimeoutInSeconds = seconds(req.ConnectTimeout)
	return w, nil
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
