package fileupload

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
)

// fakeStorage answers the two requests the hub makes of blob storage:
// Create Container and Get Blob Properties, for the blobs in it.
type fakeStorage struct {
	mu         sync.Mutex
	blobs      map[string]int64 // path (/container/blob) → size
	modified   time.Time
	containers int
	status     int // when not 0, the answer to every request
}

func (f *fakeStorage) Do(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := http.Header{"X-Ms-Request-Id": {"1"}}
	answer := func(status int) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	}
	if f.status != 0 {
		h.Set("x-ms-error-code", "AuthorizationFailure")
		return answer(f.status)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "SharedKey ") {
		return answer(http.StatusForbidden)
	}
	switch {
	case r.Method == http.MethodPut && r.URL.Query().Get("restype") == "container":
		f.containers++
		if f.containers > 1 {
			h.Set("x-ms-error-code", "ContainerAlreadyExists")
			return answer(http.StatusConflict)
		}
		return answer(http.StatusCreated)
	case r.Method == http.MethodHead:
		size, ok := f.blobs[r.URL.Path]
		if !ok {
			h.Set("x-ms-error-code", "BlobNotFound")
			return answer(http.StatusNotFound)
		}
		h.Set("Content-Length", fmt.Sprint(size))
		h.Set("Last-Modified", f.modified.UTC().Format(http.TimeFormat))
		return answer(http.StatusOK)
	}
	return answer(http.StatusBadRequest)
}

func (f *fakeStorage) put(path string, size int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[path] = size
}

// notification is one call of Options.Notify.
type notification struct {
	deviceID, blobName, blobURI string
	size                        int64
	modified                    time.Time
}

// fixture is Uploads over a fakeStorage with a clock the test moves.
type fixture struct {
	u       *Uploads
	storage *fakeStorage
	mu      sync.Mutex
	now     time.Time
	sent    []notification
}

func newFixture(t *testing.T, connectionString string, change func(*Options)) *fixture {
	t.Helper()
	f := &fixture{
		storage: &fakeStorage{blobs: map[string]int64{}, modified: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)},
		now:     time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC),
	}
	opts := &Options{
		ConnectionString: connectionString,
		Transport:        f.storage,
		Now:              f.clock,
		Notify: func(deviceID, blobName, blobURI string, size int64, modified time.Time) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.sent = append(f.sent, notification{deviceID, blobName, blobURI, size, modified})
			return nil
		},
	}
	if change != nil {
		change(opts)
	}
	u, err := New(opts)
	require.NoError(t, err)
	f.u = u
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fixture) notifications() []notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notification(nil), f.sent...)
}

const accountStyle = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + testKey + ";EndpointSuffix=core.windows.net"

func requireCode(t *testing.T, err error, code iothub.ErrorCode) {
	t.Helper()
	var he *iothub.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, code, he.Code, "%v", err)
	assert.Equal(t, code.StatusCode(), he.StatusCode)
}

func TestStartSAS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cs, host, url string
	}{
		{"account style", accountStyle, "acct.blob.core.windows.net", "https://acct.blob.core.windows.net/fileupload/cam-1/photos/a%20b.jpg?"},
		{"path style", "AccountName=devstoreaccount1;AccountKey=" + testKey + ";BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1",
			"127.0.0.1:10000/devstoreaccount1", "http://127.0.0.1:10000/devstoreaccount1/fileupload/cam-1/photos/a%20b.jpg?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.cs, nil)
			s, err := f.u.Start(context.Background(), "cam-1", "photos/a b.jpg")
			require.NoError(t, err)
			assert.Equal(t, c.host, s.HostName)
			assert.Equal(t, DefaultContainer, s.ContainerName)
			assert.Equal(t, "cam-1/photos/a b.jpg", s.BlobName, "the hub prefixes the device id")
			require.True(t, strings.HasPrefix(s.SASToken, "?"), s.SASToken)
			q, err := url.ParseQuery(s.SASToken[1:])
			require.NoError(t, err)
			assert.Equal(t, "b", q.Get("sr"), "a blob SAS")
			assert.Equal(t, "rw", q.Get("sp"), "read and write, as the hub's")
			assert.Equal(t, "2025-03-04T06:00:00Z", q.Get("se"), "now + the default TTL of 1 hour")
			assert.NotEmpty(t, q.Get("sig"))
			assert.Empty(t, q.Get("spr"), "no protocol restriction: Azurite serves http")
			assert.True(t, strings.HasPrefix(f.u.BlobURL(s), c.url), f.u.BlobURL(s))

			raw, err := base64.StdEncoding.DecodeString(s.CorrelationID)
			require.NoError(t, err)
			assert.Regexp(t, `^202503040500_[0-9a-f-]{36}_photos/a b\.jpg_ver2\.0$`, string(raw), "the hub's shape")
			assert.NotContains(t, fmt.Sprintf("%v %+v %#v %s", s, s, s, &s), q.Get("sig"))
		})
	}
}

func TestStartRefusesBadNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t, accountStyle, nil)
	for _, name := range []string{"", "bad\x00name", "tab\there", "\xff", strings.Repeat("a", 1024), strings.Repeat("a/", 254)} {
		_, err := f.u.Start(context.Background(), "d", name)
		requireCode(t, err, iothub.CodeArgumentInvalid)
	}
	_, err := f.u.Start(context.Background(), "", "f")
	requireCode(t, err, iothub.CodeArgumentInvalid)
}

func TestStartCreatesTheContainerOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, accountStyle, nil)
	for range 3 {
		_, err := f.u.Start(context.Background(), "d", "f")
		require.NoError(t, err)
	}
	assert.Equal(t, 1, f.storage.containers)

	// A container made by someone else is no error.
	g := newFixture(t, accountStyle, nil)
	g.storage.containers = 1
	_, err := g.u.Start(context.Background(), "d", "f")
	require.NoError(t, err)
}

func TestStartStorageRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, accountStyle, nil)
	f.storage.status = http.StatusForbidden
	_, err := f.u.Start(context.Background(), "d", "f")
	requireCode(t, err, iothub.CodeInvalidStorageEndpointOrBlob)
	assert.NotContains(t, err.Error(), testKey[:20])
	f.storage.status = http.StatusServiceUnavailable
	_, err = f.u.Start(context.Background(), "d", "f")
	requireCode(t, err, iothub.CodeServerError)
	// The failed starts hold no upload slot.
	f.storage.status = 0
	for range MaxActiveUploads {
		_, err := f.u.Start(context.Background(), "d", "f")
		require.NoError(t, err)
	}
}

func TestActiveUploadLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, accountStyle, nil)
	ctx := context.Background()
	var first SAS
	for i := range MaxActiveUploads {
		s, err := f.u.Start(ctx, "d", fmt.Sprintf("f%d", i))
		require.NoError(t, err)
		if i == 0 {
			first = s
		}
	}
	_, err := f.u.Start(ctx, "d", "one-too-many")
	requireCode(t, err, iothub.CodeDeviceMaximumActiveFileUploadLimitExceeded)
	assert.Contains(t, err.Error(), "Number of active file upload requests cannot exceed 10")
	_, err = f.u.Start(ctx, "other", "f")
	require.NoError(t, err, "the limit is per device")

	// A report frees a slot, a failure too.
	require.NoError(t, f.u.Complete(ctx, "d", Result{CorrelationID: first.CorrelationID, IsSuccess: false, StatusCode: 500}))
	_, err = f.u.Start(ctx, "d", "again")
	require.NoError(t, err)
	_, err = f.u.Start(ctx, "d", "again")
	requireCode(t, err, iothub.CodeDeviceMaximumActiveFileUploadLimitExceeded)

	// Unreported uploads count until their SAS expires.
	f.advance(DefaultSASTTL)
	for range MaxActiveUploads {
		_, err := f.u.Start(ctx, "d", "later")
		require.NoError(t, err)
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := func(t *testing.T, f *fixture, device, name string) SAS {
		t.Helper()
		s, err := f.u.Start(ctx, device, name)
		require.NoError(t, err)
		return s
	}

	t.Run("success notifies with the blob's properties", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, accountStyle, nil)
		s := start(t, f, "cam", "a b/c.jpg")
		f.storage.put("/fileupload/cam/a b/c.jpg", 4321)
		require.NoError(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true, StatusCode: 201}))
		assert.Equal(t, []notification{{
			deviceID: "cam", blobName: "cam/a b/c.jpg", blobURI: "https://acct.blob.core.windows.net/fileupload/cam/a%20b/c.jpg",
			size: 4321, modified: f.storage.modified,
		}}, f.notifications())
		err := f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true})
		requireCode(t, err, iothub.CodeInvalidFileUploadCorrelationId)
		assert.Len(t, f.notifications(), 1, "one notification per upload")
	})
	t.Run("failure is forgotten without a notification", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, accountStyle, nil)
		s := start(t, f, "cam", "f")
		require.NoError(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: false, StatusCode: 403, StatusDescription: "denied"}))
		assert.Empty(t, f.notifications())
		requireCode(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID}), iothub.CodeInvalidFileUploadCorrelationId)
	})
	t.Run("a success without its blob is refused and stays in flight", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, accountStyle, nil)
		s := start(t, f, "cam", "f")
		err := f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true})
		requireCode(t, err, iothub.CodeInvalidStorageEndpointOrBlob)
		assert.Contains(t, err.Error(), "BlobNotFound")
		assert.Empty(t, f.notifications())
		f.storage.put("/fileupload/cam/f", 1)
		require.NoError(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true}))
		assert.Len(t, f.notifications(), 1)
	})
	t.Run("unknown and other devices' ids", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, accountStyle, nil)
		s := start(t, f, "cam", "f")
		requireCode(t, f.u.Complete(ctx, "cam", Result{CorrelationID: "nope", IsSuccess: true}), iothub.CodeInvalidFileUploadCorrelationId)
		requireCode(t, f.u.Complete(ctx, "cam", Result{IsSuccess: true}), iothub.CodeInvalidFileUploadCorrelationId)
		requireCode(t, f.u.Complete(ctx, "thief", Result{CorrelationID: s.CorrelationID, IsSuccess: false}), iothub.CodeInvalidFileUploadCorrelationId)
		require.NoError(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID}), "still the owner's")
	})
	t.Run("expired ids", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, accountStyle, func(o *Options) { o.SASTTL = 2 * time.Minute })
		s := start(t, f, "cam", "f")
		f.storage.put("/fileupload/cam/f", 1)
		f.advance(2 * time.Minute)
		requireCode(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true}), iothub.CodeExpiredFileUploadCorrelationId)
		requireCode(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true}), iothub.CodeInvalidFileUploadCorrelationId)
		assert.Empty(t, f.notifications())

		// Unreported, an expired upload is still told expired for a TTL, then forgotten.
		late := start(t, f, "cam", "g")
		f.advance(3 * time.Minute)
		requireCode(t, f.u.Complete(ctx, "cam", Result{CorrelationID: late.CorrelationID}), iothub.CodeExpiredFileUploadCorrelationId)
		forgotten := start(t, f, "cam", "h")
		f.advance(4*time.Minute + time.Second)
		start(t, f, "cam", "sweeps")
		requireCode(t, f.u.Complete(ctx, "cam", Result{CorrelationID: forgotten.CorrelationID}), iothub.CodeInvalidFileUploadCorrelationId)
	})
	t.Run("disabled notifications", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, accountStyle, func(o *Options) { o.DisableNotifications = true; o.Notify = nil })
		s := start(t, f, "cam", "f")
		f.storage.put("/fileupload/cam/f", 1)
		require.NoError(t, f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true}))
		assert.Empty(t, f.notifications())
	})
	t.Run("a failing Notify is a server error", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, accountStyle, func(o *Options) {
			o.Notify = func(string, string, string, int64, time.Time) error { return io.ErrShortWrite }
		})
		s := start(t, f, "cam", "f")
		f.storage.put("/fileupload/cam/f", 1)
		err := f.u.Complete(ctx, "cam", Result{CorrelationID: s.CorrelationID, IsSuccess: true})
		requireCode(t, err, iothub.CodeServerError)
		assert.ErrorIs(t, err, io.ErrShortWrite)
	})
}

func TestNoStorageLinked(t *testing.T) {
	t.Parallel()
	var u *Uploads
	_, err := u.Start(context.Background(), "d", "f")
	requireCode(t, err, iothub.CodeDefaultStorageEndpointNotConfigured)
	requireCode(t, u.Complete(context.Background(), "d", Result{CorrelationID: "x"}), iothub.CodeDefaultStorageEndpointNotConfigured)
	assert.Equal(t, "fileupload.Uploads(no storage linked)", fmt.Sprint(u))
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	notify := func(string, string, string, int64, time.Time) error { return nil }
	cases := []struct {
		name  string
		opts  *Options
		field string
	}{
		{"nil", nil, "ConnectionString"},
		{"no connection string", &Options{Notify: notify}, "ConnectionString"},
		{"bad connection string", &Options{ConnectionString: "AccountName=acct;AccountKey=%%" + testKey, Notify: notify}, "AccountKey"},
		{"bad container", &Options{ConnectionString: accountStyle, Container: "Uploads_1", Notify: notify}, "Container"},
		{"container with double hyphen", &Options{ConnectionString: accountStyle, Container: "a--b", Notify: notify}, "Container"},
		{"TTL too short", &Options{ConnectionString: accountStyle, SASTTL: time.Second, Notify: notify}, "SASTTL"},
		{"TTL too long", &Options{ConnectionString: accountStyle, SASTTL: 25 * time.Hour, Notify: notify}, "SASTTL"},
		{"no Notify", &Options{ConnectionString: accountStyle}, "Notify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u, err := New(c.opts)
			assert.Nil(t, u)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, c.field, ce.Field)
			assert.NotContains(t, err.Error(), testKey[:20])
		})
	}
}

func TestNothingPrintsTheKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, accountStyle, nil)
	opts := Options{ConnectionString: accountStyle, Container: "c1"}
	for _, v := range []any{opts, &opts, f.u, *f.u.account, f.u.account, struct{ x any }{f.u}, []any{opts}} {
		for _, verb := range []string{"%s", "%v", "%+v", "%#v", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, testKey[:20], "%T with %s", v, verb)
			assert.NotContains(t, out, fmt.Sprintf("%x", testKey[:20]), "%T with %s", v, verb)
		}
	}
}
