package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/registry"
)

// newHub starts an emulator for one test and returns it with a client of
// its iothubowner policy.
func newHub(t testing.TB, opts *emulator.Options) (*emulator.Emulator, *registry.Client) {
	t.Helper()
	e, err := emulator.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	c, err := registry.NewClientFromConnectionString(e.ConnectionString(), &iothub.ClientOptions{
		Retry: iothub.RetryOptions{RetryDelay: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	return e, c
}

func TestCreateGetDevice(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()

	d, err := c.CreateDevice(ctx, &registry.Device{DeviceID: "sensor-1"})
	require.NoError(t, err)
	assert.Equal(t, "sensor-1", d.DeviceID)
	assert.NotEmpty(t, d.ETag)
	assert.NotEmpty(t, d.GenerationID)
	assert.Equal(t, registry.StatusEnabled, d.Status)
	assert.Equal(t, registry.Disconnected, d.ConnectionState)
	require.NotNil(t, d.Authentication)
	assert.Equal(t, registry.AuthSAS, d.Authentication.Type)
	require.NotNil(t, d.Authentication.SymmetricKey)
	assert.NotEmpty(t, d.Authentication.SymmetricKey.PrimaryKey, "the hub generates keys")
	assert.NotEqual(t, d.Authentication.SymmetricKey.PrimaryKey, d.Authentication.SymmetricKey.SecondaryKey)
	assert.NotContains(t, fmt.Sprintf("%v %+v", d.Authentication, *d.Authentication), d.Authentication.SymmetricKey.PrimaryKey,
		"printing a device does not show its keys")

	got, err := c.GetDevice(ctx, "sensor-1")
	require.NoError(t, err)
	assert.Equal(t, d.ETag, got.ETag)
	assert.Equal(t, d.GenerationID, got.GenerationID)
	assert.Equal(t, d.Authentication.SymmetricKey.PrimaryKey, got.Authentication.SymmetricKey.PrimaryKey)
}

func TestCreateDeviceErrors(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	ctx := context.Background()
	_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: "dup"})
	require.NoError(t, err)

	_, err = c.CreateDevice(ctx, &registry.Device{DeviceID: "dup"})
	require.ErrorIs(t, err, iothub.ErrDeviceAlreadyExists)
	var he *iothub.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusConflict, he.StatusCode)

	_, err = c.CreateDevice(ctx, &registry.Device{DeviceID: "x509", Authentication: &registry.Authentication{Type: registry.AuthSelfSigned}})
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid, "selfSigned needs thumbprints")

	_, err = c.CreateDevice(ctx, &registry.Device{DeviceID: "ca", Authentication: &registry.Authentication{Type: registry.AuthCertificateAuthority}})
	require.NoError(t, err)

	before := e.RequestCount("", "")
	for _, bad := range []*registry.Device{nil, {DeviceID: ""}, {DeviceID: "has space"}, {DeviceID: "a/b"}} {
		_, err = c.CreateDevice(ctx, bad)
		require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	}
	assert.Equal(t, before, e.RequestCount("", ""), "invalid input is refused before any request")
}

func TestGetDeviceNotFound(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	_, err := c.GetDevice(context.Background(), "nobody")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
	assert.NotErrorIs(t, err, iothub.ErrModuleNotFound)
}

func TestUpdateDeviceETags(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	d, err := c.CreateDevice(ctx, &registry.Device{DeviceID: "d1"})
	require.NoError(t, err)

	d.Status, d.StatusReason = registry.StatusDisabled, "maintenance"
	updated, err := c.UpdateDevice(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusDisabled, updated.Status)
	assert.Equal(t, "maintenance", updated.StatusReason)
	assert.NotEqual(t, d.ETag, updated.ETag, "every write changes the ETag")
	assert.Equal(t, d.GenerationID, updated.GenerationID)

	// d still holds the old ETag: its write must not go through.
	_, err = c.UpdateDevice(ctx, d)
	require.ErrorIs(t, err, iothub.ErrPreconditionFailed)

	d.ETag = "*"
	d.Status = registry.StatusEnabled
	forced, err := c.UpdateDevice(ctx, d)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusEnabled, forced.Status)

	_, err = c.UpdateDevice(ctx, &registry.Device{DeviceID: "d1"})
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid, "an update needs an ETag")
	_, err = c.UpdateDevice(ctx, &registry.Device{DeviceID: "ghost", ETag: "*"})
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
}

func TestDeleteDevice(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	d, err := c.CreateDevice(ctx, &registry.Device{DeviceID: "d1"})
	require.NoError(t, err)

	require.ErrorIs(t, c.DeleteDevice(ctx, "d1", "c3RhbGU="), iothub.ErrPreconditionFailed)
	require.NoError(t, c.DeleteDevice(ctx, "d1", d.ETag))
	require.ErrorIs(t, c.DeleteDevice(ctx, "d1", ""), iothub.ErrDeviceNotFound)

	_, err = c.CreateDevice(ctx, &registry.Device{DeviceID: "d2"})
	require.NoError(t, err)
	require.NoError(t, c.DeleteDevice(ctx, "d2", ""), "an empty ETag deletes unconditionally")
	_, err = c.GetDevice(ctx, "d2")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
	require.ErrorIs(t, c.DeleteDevice(ctx, "", ""), iothub.ErrArgumentInvalid)
}

func TestDeviceIDsThatNeedEscaping(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	// Every character the hub allows, the ones a path must escape (# ? % ;)
	// and + among them, in device and module ids alike.
	for _, id := range []string{"a%b", "q?x", "x:y=z@w$v'u", "(p),*!", "a#b", "a+b", "a;b", "%23#?;+%2F", "-:.+%_#*?!(),=@;$'", "..."} {
		_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: id})
		require.NoError(t, err, id)
		got, err := c.GetDevice(ctx, id)
		require.NoError(t, err, id)
		assert.Equal(t, id, got.DeviceID)
		_, err = c.CreateModule(ctx, &registry.Module{DeviceID: id, ModuleID: id})
		require.NoError(t, err, id)
		m, err := c.GetModule(ctx, id, id)
		require.NoError(t, err, id)
		assert.Equal(t, id, m.ModuleID)
		require.NoError(t, c.DeleteModule(ctx, id, id, ""), id)
		require.NoError(t, c.DeleteDevice(ctx, id, ""), id)
		_, err = c.GetDevice(ctx, id)
		require.ErrorIs(t, err, iothub.ErrDeviceNotFound, id)
	}
	// "." and ".." would name no resource as a path segment: refused
	// before sending, and by the emulator for a bulk import too.
	for _, id := range []string{".", ".."} {
		_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: id})
		require.ErrorIs(t, err, iothub.ErrArgumentInvalid, id)
		_, err = c.GetDevice(ctx, id)
		require.ErrorIs(t, err, iothub.ErrArgumentInvalid, id)
	}
}

func TestListDevices(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	for i := range 12 {
		_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: fmt.Sprintf("dev-%02d", i)})
		require.NoError(t, err)
	}
	all, err := c.ListDevices(ctx, 0)
	require.NoError(t, err)
	assert.Len(t, all, 12)
	some, err := c.ListDevices(ctx, 5)
	require.NoError(t, err)
	assert.Len(t, some, 5)
	_, err = c.ListDevices(ctx, 1001)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
	_, err = c.ListDevices(ctx, -1)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
}

func TestModules(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	_, err := c.CreateModule(ctx, &registry.Module{DeviceID: "nodev", ModuleID: "m"})
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)

	_, err = c.CreateDevice(ctx, &registry.Device{DeviceID: "edge"})
	require.NoError(t, err)
	m, err := c.CreateModule(ctx, &registry.Module{DeviceID: "edge", ModuleID: "filter"})
	require.NoError(t, err)
	assert.Equal(t, "filter", m.ModuleID)
	assert.NotEmpty(t, m.ETag)
	assert.NotEmpty(t, m.GenerationID)
	require.NotNil(t, m.Authentication)
	require.NotNil(t, m.Authentication.SymmetricKey)
	assert.NotEmpty(t, m.Authentication.SymmetricKey.PrimaryKey)

	_, err = c.CreateModule(ctx, &registry.Module{DeviceID: "edge", ModuleID: "filter"})
	require.ErrorIs(t, err, iothub.ErrModuleAlreadyExists)

	_, err = c.GetModule(ctx, "edge", "missing")
	require.ErrorIs(t, err, iothub.ErrModuleNotFound)
	got, err := c.GetModule(ctx, "edge", "filter")
	require.NoError(t, err)
	assert.Equal(t, m.ETag, got.ETag)

	got.ManagedBy = "ops"
	upd, err := c.UpdateModule(ctx, got)
	require.NoError(t, err)
	assert.Equal(t, "ops", upd.ManagedBy)
	assert.NotEqual(t, got.ETag, upd.ETag)
	_, err = c.UpdateModule(ctx, got)
	require.ErrorIs(t, err, iothub.ErrPreconditionFailed)
	_, err = c.UpdateModule(ctx, &registry.Module{DeviceID: "edge", ModuleID: "filter"})
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)

	_, err = c.CreateModule(ctx, &registry.Module{DeviceID: "edge", ModuleID: "second"})
	require.NoError(t, err)
	list, err := c.ListModules(ctx, "edge")
	require.NoError(t, err)
	assert.Len(t, list, 2)
	_, err = c.ListModules(ctx, "nodev")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)

	require.ErrorIs(t, c.DeleteModule(ctx, "edge", "filter", "c3RhbGU="), iothub.ErrPreconditionFailed)
	require.NoError(t, c.DeleteModule(ctx, "edge", "filter", upd.ETag))
	require.ErrorIs(t, c.DeleteModule(ctx, "edge", "filter", ""), iothub.ErrModuleNotFound)
	require.ErrorIs(t, c.DeleteModule(ctx, "edge", "bad id", ""), iothub.ErrArgumentInvalid)
	_, err = c.CreateModule(ctx, nil)
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)
}

func TestStatistics(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	stats, err := c.Statistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, registry.Statistics{}, *stats)

	for _, id := range []string{"a", "b", "c"} {
		_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: id})
		require.NoError(t, err)
	}
	_, err = c.UpdateDevice(ctx, &registry.Device{DeviceID: "b", ETag: "*", Status: registry.StatusDisabled})
	require.NoError(t, err)
	stats, err = c.Statistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, registry.Statistics{TotalDeviceCount: 3, EnabledDeviceCount: 2, DisabledDeviceCount: 1}, *stats)

	require.NoError(t, c.DeleteDevice(ctx, "a", ""))
	stats, err = c.Statistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, registry.Statistics{TotalDeviceCount: 2, EnabledDeviceCount: 1, DisabledDeviceCount: 1}, *stats)

	svc, err := c.ServiceStatistics(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(0), svc.ConnectedDeviceCount)
}

func TestPolicyRights(t *testing.T) {
	t.Parallel()
	e, owner := newHub(t, nil)
	ctx := context.Background()
	_, err := owner.CreateDevice(ctx, &registry.Device{DeviceID: "d1"})
	require.NoError(t, err)

	cs, err := e.PolicyConnectionString("registryRead")
	require.NoError(t, err)
	reader, err := registry.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err)
	_, err = reader.GetDevice(ctx, "d1")
	require.NoError(t, err)
	_, err = reader.CreateDevice(ctx, &registry.Device{DeviceID: "d2"})
	require.ErrorIs(t, err, iothub.ErrUnauthorized)
	var he *iothub.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, iothub.CodeIotHubUnauthorizedAccess, he.Code)
	require.ErrorIs(t, reader.DeleteDevice(ctx, "d1", ""), iothub.ErrUnauthorized)

	cs, err = e.PolicyConnectionString("service")
	require.NoError(t, err)
	svc, err := registry.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err)
	_, err = svc.GetDevice(ctx, "d1")
	require.ErrorIs(t, err, iothub.ErrUnauthorized, "ServiceConnect alone cannot read the registry")
}

func TestForgedKeyIsRefused(t *testing.T) {
	t.Parallel()
	e, _ := newHub(t, nil)
	cs := fmt.Sprintf("HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s;UseDevelopmentEmulator=true",
		e.HostName(), "Zm9yZ2VkLWtleS1mb3JnZWQta2V5LWZvcmdlZC1rZXk=")
	c, err := registry.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err)
	_, err = c.GetDevice(context.Background(), "d1")
	require.ErrorIs(t, err, iothub.ErrUnauthorized)
}

func TestThrottlingIsAbsorbed(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	ctx := context.Background()
	_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: "d1"})
	require.NoError(t, err)
	e.InjectFault(emulator.Fault{Method: "GET", Path: "/devices/*", Count: 3,
		Code: iothub.CodeThrottlingException, RetryAfter: time.Second})
	start := time.Now()
	d, err := c.GetDevice(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, "d1", d.DeviceID)
	assert.Equal(t, 4, e.RequestCount("GET", "/devices/*"))
	assert.GreaterOrEqual(t, time.Since(start), 3*time.Second, "each retry waits the hub's Retry-After")
}

func TestPreconditionFailedIsNotRetried(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	ctx := context.Background()
	_, err := c.CreateDevice(ctx, &registry.Device{DeviceID: "d1"})
	require.NoError(t, err)
	before := e.RequestCount("PUT", "/devices/*")
	_, err = c.UpdateDevice(ctx, &registry.Device{DeviceID: "d1", ETag: "c3RhbGU="})
	require.ErrorIs(t, err, iothub.ErrPreconditionFailed)
	assert.Equal(t, before+1, e.RequestCount("PUT", "/devices/*"))
}

func TestServiceUnavailableIsRetried(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	e.InjectFault(emulator.Fault{Path: "/statistics/devices", Count: 2, Code: iothub.CodeServiceUnavailable})
	_, err := c.Statistics(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 3, e.RequestCount("GET", "/statistics/devices"))

	e.InjectFault(emulator.Fault{Path: "/statistics/devices", Code: iothub.CodeServiceUnavailable})
	_, err = c.Statistics(context.Background())
	var he *iothub.Error
	require.ErrorAs(t, err, &he)
	assert.Equal(t, iothub.CodeServiceUnavailable, he.Code)
	assert.Equal(t, 3+4, e.RequestCount("GET", "/statistics/devices"), "1 attempt + 3 retries")
}

func TestContextCancelStopsRetries(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, nil)
	e.InjectFault(emulator.Fault{Path: "/devices/*", Code: iothub.CodeThrottlingException, RetryAfter: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.GetDevice(ctx, "d1")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	_, c := newHub(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c-%d", i)
			if _, err := c.CreateDevice(ctx, &registry.Device{DeviceID: id}); err != nil {
				errs <- err
				return
			}
			if _, err := c.GetDevice(ctx, id); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	all, err := c.ListDevices(ctx, 0)
	require.NoError(t, err)
	assert.Len(t, all, 50)
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	_, err := registry.NewClientFromConnectionString("HostName=hub.azure-devices.net", nil)
	require.Error(t, err)
	_, err = registry.NewClientFromConnectionString("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=a2V5;EntityPath=hub", nil)
	require.Error(t, err)
	_, err = registry.NewClient("", nil, nil)
	require.Error(t, err)
}

func TestNewClientWithCredentialOverTLS(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{TLS: true})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	var owner emulator.Policy
	for _, p := range e.Policies() {
		if p.Name == "iothubowner" {
			owner = p
		}
	}
	cred, err := auth.NewSharedAccessKeyCredential(owner.Name, owner.PrimaryKey, nil)
	require.NoError(t, err)
	c, err := registry.NewClient(e.HostName(), cred, &iothub.ClientOptions{TLSConfig: e.TLSConfig()})
	require.NoError(t, err)
	assert.Equal(t, e.HostName(), c.HostName())
	_, err = c.CreateDevice(context.Background(), &registry.Device{DeviceID: "tls"})
	require.NoError(t, err)

	untrusting, err := registry.NewClient(e.HostName(), cred, nil)
	require.NoError(t, err)
	_, err = untrusting.GetDevice(context.Background(), "tls")
	require.Error(t, err, "the emulator's CA is not trusted by default")
	assert.False(t, errors.Is(err, iothub.ErrDeviceNotFound))
}

// TestEventHubConnectionStringRefused: the Event Hub-compatible connection
// string given to a client of the hub's own APIs is a typed error that says
// which connection string is needed.
func TestEventHubConnectionStringRefused(t *testing.T) {
	t.Parallel()
	e, _ := newHub(t, nil)
	cs := e.EventHubConnectionString()
	_, err := registry.NewClientFromConnectionString(cs, nil)
	var ce *auth.ConnectionStringError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Endpoint", ce.Field)
	assert.Contains(t, err.Error(), "HostName=")
}
