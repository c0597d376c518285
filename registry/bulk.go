package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/internal/transport"
)

// MaxBulkBatch is the most devices the hub takes in one bulk call; the bulk
// methods split larger sets into calls of this size.
const MaxBulkBatch = 100

// DefaultBulkConcurrency is how many bulk calls are in flight at once by default.
const DefaultBulkConcurrency = 4

// BulkOptions tunes CreateDevices, UpdateDevices and DeleteDevices. A nil
// *BulkOptions accepts the defaults.
type BulkOptions struct {
	// Concurrency is how many calls of up to 100 devices are in flight at
	// once. Default: [DefaultBulkConcurrency].
	Concurrency int
	// Progress, when set, is called after each call with the number of
	// devices done so far (applied or failed) and the total. Calls never
	// overlap. Default: none.
	Progress func(done, total int)
}

// BulkResult is the outcome of a bulk operation, device by device.
type BulkResult struct {
	// Succeeded counts the devices the operation applied to.
	Succeeded int
	// Failed lists every device the operation did not apply to, and why:
	// the hub's per-device errors, and for a call that failed as a whole
	// (or was never sent because ctx ended) each of its devices.
	Failed []*DeviceError
	// Warnings lists what the hub warned about devices it did apply.
	Warnings []*DeviceWarning
}

// DeviceError is why one device of a bulk operation failed.
type DeviceError struct {
	DeviceID  string
	ModuleID  string
	Operation string
	// Err is an *iothub.Error for answers of the hub (test it with
	// errors.Is), or the error that stopped the device's call.
	Err error
}

// Error implements error.
func (e *DeviceError) Error() string {
	return fmt.Sprintf("device %q: %v", e.DeviceID, e.Err)
}

// Unwrap returns the cause.
func (e *DeviceError) Unwrap() error { return e.Err }

// DeviceWarning is a warning of the hub about one device.
type DeviceWarning struct {
	DeviceID      string `json:"deviceId"`
	WarningCode   string `json:"warningCode"`
	WarningStatus string `json:"warningStatus"`
}

// BulkError is returned with the result when any device failed. errors.Is
// and errors.As look through every device's error.
type BulkError struct {
	Result *BulkResult
}

// Error implements error.
func (e *BulkError) Error() string {
	n := len(e.Result.Failed)
	total := n + e.Result.Succeeded
	var b strings.Builder
	fmt.Fprintf(&b, "iothub: bulk operation failed for %d of %d devices", n, total)
	if n > 0 {
		fmt.Fprintf(&b, "; first: %v", e.Result.Failed[0])
	}
	return b.String()
}

// Unwrap returns the error of every failed device.
func (e *BulkError) Unwrap() []error {
	errs := make([]error, len(e.Result.Failed))
	for i, f := range e.Result.Failed {
		errs[i] = f
	}
	return errs
}

// Import modes of the bulk API.
const (
	modeCreate            = "create"
	modeCreateOrUpdate    = "createOrUpdate"
	modeUpdate            = "update"
	modeUpdateIfMatchETag = "updateIfMatchETag"
	modeDelete            = "delete"
	modeDeleteIfMatchETag = "deleteIfMatchETag"
)

// importDevice is the wire form of ExportImportDevice.
type importDevice struct {
	ID             string          `json:"id"`
	ETag           string          `json:"eTag,omitempty"`
	ImportMode     string          `json:"importMode"`
	Status         Status          `json:"status,omitempty"`
	StatusReason   string          `json:"statusReason,omitempty"`
	Authentication *Authentication `json:"authentication,omitempty"`
	Capabilities   *Capabilities   `json:"capabilities,omitempty"`
	DeviceScope    string          `json:"deviceScope,omitempty"`
	ParentScopes   []string        `json:"parentScopes,omitempty"`
}

type bulkAnswer struct {
	IsSuccessful *bool `json:"isSuccessful"`
	Errors       []struct {
		DeviceID    string `json:"deviceId"`
		ModuleID    string `json:"moduleId"`
		ErrorCode   string `json:"errorCode"`
		ErrorStatus string `json:"errorStatus"`
		Operation   string `json:"operation"`
	} `json:"errors"`
	Warnings []*DeviceWarning `json:"warnings"`
}

// CreateDevices registers every device of devices, in calls of up to 100,
// and reports device by device. It returns a *BulkError (with the same
// result) when any device failed; devices that already exist fail with
// [iothub.ErrDeviceAlreadyExists].
func (c *Client) CreateDevices(ctx context.Context, devices []*Device, opts *BulkOptions) (*BulkResult, error) {
	return c.bulk(ctx, devices, opts, func(d *Device) (string, error) { return modeCreate, nil })
}

// CreateOrUpdateDevices registers every device of devices that does not
// exist and replaces every one that does, whatever its ETag (the hub's
// createOrUpdate import mode): an import that may run again.
func (c *Client) CreateOrUpdateDevices(ctx context.Context, devices []*Device, opts *BulkOptions) (*BulkResult, error) {
	return c.bulk(ctx, devices, opts, func(d *Device) (string, error) { return modeCreateOrUpdate, nil })
}

// UpdateDevices replaces every device of devices. As with
// [Client.UpdateDevice], each device's ETag must be the one read or "*"; an
// empty ETag is refused before anything is sent.
func (c *Client) UpdateDevices(ctx context.Context, devices []*Device, opts *BulkOptions) (*BulkResult, error) {
	return c.bulk(ctx, devices, opts, func(d *Device) (string, error) {
		switch d.ETag {
		case "":
			return "", ids.ArgumentInvalid(`device %q has no ETag; use the ETag of the device you read, or "*" to overwrite unconditionally`, d.DeviceID)
		case "*":
			return modeUpdate, nil
		}
		return modeUpdateIfMatchETag, nil
	})
}

// DeleteDevices removes every device of devices: unconditionally when its
// ETag is empty or "*", otherwise only if the ETag still matches.
func (c *Client) DeleteDevices(ctx context.Context, devices []*Device, opts *BulkOptions) (*BulkResult, error) {
	return c.bulk(ctx, devices, opts, func(d *Device) (string, error) {
		if d.ETag == "" || d.ETag == "*" {
			return modeDelete, nil
		}
		return modeDeleteIfMatchETag, nil
	})
}

func (c *Client) bulk(ctx context.Context, devices []*Device, opts *BulkOptions, mode func(*Device) (string, error)) (*BulkResult, error) {
	batch, err := toImport(devices, mode)
	if err != nil {
		return nil, err
	}
	var o BulkOptions
	if opts != nil {
		o = *opts
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultBulkConcurrency
	}

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var (
		mu     sync.Mutex
		result = &BulkResult{}
		done   int
		wg     sync.WaitGroup
		chunks = make(chan []importDevice)
	)
	record := func(chunk []importDevice, r *BulkResult) {
		mu.Lock()
		defer mu.Unlock()
		result.Succeeded += r.Succeeded
		result.Failed = append(result.Failed, r.Failed...)
		result.Warnings = append(result.Warnings, r.Warnings...)
		done += len(chunk)
		if o.Progress != nil {
			o.Progress(done, len(batch))
		}
	}
	for range min(o.Concurrency, (len(batch)+MaxBulkBatch-1)/MaxBulkBatch) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range chunks {
				r, err := c.bulkCall(ctx, chunk)
				if err != nil {
					if ctx.Err() != nil {
						err = context.Cause(ctx)
					}
					// The call failed as a whole: stop sending the rest, which
					// would fail alike (authorisation, cancelled context…).
					stop(err)
					r = failAll(chunk, err)
				}
				record(chunk, r)
			}
		}()
	}
	for start := 0; start < len(batch); start += MaxBulkBatch {
		chunk := batch[start:min(start+MaxBulkBatch, len(batch))]
		select {
		case chunks <- chunk:
		case <-ctx.Done():
			record(chunk, failAll(chunk, context.Cause(ctx)))
		}
	}
	close(chunks)
	wg.Wait()
	if len(result.Failed) > 0 {
		return result, &BulkError{Result: result}
	}
	return result, nil
}

func toImport(devices []*Device, mode func(*Device) (string, error)) ([]importDevice, error) {
	if len(devices) == 0 {
		return nil, ids.ArgumentInvalid("no devices given")
	}
	seen := make(map[string]int, len(devices))
	batch := make([]importDevice, len(devices))
	for i, d := range devices {
		if d == nil {
			return nil, ids.ArgumentInvalid("devices[%d] is nil", i)
		}
		if err := ids.Device(d.DeviceID); err != nil {
			return nil, fmt.Errorf("devices[%d]: %w", i, err)
		}
		if j, dup := seen[d.DeviceID]; dup {
			return nil, ids.ArgumentInvalid("device %q is given twice (devices[%d] and devices[%d])", d.DeviceID, j, i)
		}
		seen[d.DeviceID] = i
		m, err := mode(d)
		if err != nil {
			return nil, fmt.Errorf("devices[%d]: %w", i, err)
		}
		imp := importDevice{ID: d.DeviceID, ImportMode: m}
		if m == modeUpdateIfMatchETag || m == modeDeleteIfMatchETag {
			imp.ETag = d.ETag
		}
		if m != modeDelete && m != modeDeleteIfMatchETag {
			imp.Status, imp.StatusReason = d.Status, d.StatusReason
			imp.Authentication, imp.Capabilities = d.Authentication, d.Capabilities
			imp.DeviceScope, imp.ParentScopes = d.DeviceScope, d.ParentScopes
		}
		batch[i] = imp
	}
	return batch, nil
}

// bulkCall sends one call of up to 100 devices. An error means the call
// failed as a whole.
func (c *Client) bulkCall(ctx context.Context, chunk []importDevice) (*BulkResult, error) {
	resp, err := c.p.Do(ctx, &transport.Request{Method: http.MethodPost, Path: "/devices", Body: chunk,
		Retry: transport.RetryIdempotent, Statuses: []int{http.StatusBadRequest}}, nil)
	if err != nil {
		return nil, err
	}
	var ans bulkAnswer
	if json.Unmarshal(resp.Body, &ans) != nil || ans.IsSuccessful == nil {
		if resp.StatusCode == http.StatusBadRequest {
			return nil, transport.DecodeError(resp.StatusCode, resp.Header, resp.Body)
		}
		return nil, fmt.Errorf("iothub: bulk registry answer is not a BulkRegistryOperationResult")
	}
	r := &BulkResult{Warnings: ans.Warnings}
	failed := make(map[string]bool, len(ans.Errors))
	for _, e := range ans.Errors {
		he := &iothub.Error{Name: e.ErrorCode, Message: e.ErrorStatus}
		if code, ok := iothub.ErrorCodeByName(e.ErrorCode); ok {
			he.Code, he.StatusCode = code, code.StatusCode()
		}
		failed[e.DeviceID] = true
		r.Failed = append(r.Failed, &DeviceError{DeviceID: e.DeviceID, ModuleID: e.ModuleID, Operation: e.Operation, Err: he})
	}
	for _, d := range chunk {
		if !failed[d.ID] {
			r.Succeeded++
		}
	}
	return r, nil
}

func failAll(chunk []importDevice, err error) *BulkResult {
	r := &BulkResult{Failed: make([]*DeviceError, len(chunk))}
	for i, d := range chunk {
		r.Failed[i] = &DeviceError{DeviceID: d.ID, Operation: d.ImportMode, Err: err}
	}
	return r
}
