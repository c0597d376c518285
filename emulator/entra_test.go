package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
	"github.com/iotkit-go/iothub/methods"
	"github.com/iotkit-go/iothub/registry"
	"github.com/iotkit-go/iothub/twin"
)

// entraClients are the SDK's REST clients authorised by one Entra ID
// credential of the emulator.
type entraClients struct {
	registry *registry.Client
	twin     *twin.Client
	methods  *methods.Client
	c2d      *c2d.Client
}

func newEntraClients(t *testing.T, e *emulator.Emulator, roles ...string) *entraClients {
	t.Helper()
	cred := auth.NewTokenCredential(e.TokenCredential(roles...))
	opts := &iothub.ClientOptions{TLSConfig: e.TLSConfig(), Retry: iothub.RetryOptions{MaxRetries: -1}}
	reg, err := registry.NewClient(e.HostName(), cred, opts)
	require.NoError(t, err)
	tw, err := twin.NewClient(e.HostName(), cred, opts)
	require.NoError(t, err)
	m, err := methods.NewClient(e.HostName(), cred, opts)
	require.NoError(t, err)
	c, err := c2d.NewClient(e.HostName(), cred, &c2d.ClientOptions{ClientOptions: *opts})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &entraClients{registry: reg, twin: tw, methods: m, c2d: c}
}

// startEntraHub starts a TLS emulator with device "dev1" connected and
// answering the direct method "ping".
func startEntraHub(t *testing.T) (*emulator.Emulator, *emulator.SimulatedDevice) {
	t.Helper()
	e, err := emulator.Start(context.Background(), &emulator.Options{TLS: true, Devices: []emulator.DeviceSeed{{DeviceID: "dev1"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	d, err := e.Device("dev1")
	require.NoError(t, err)
	d.HandleMethod("ping", func(context.Context, json.RawMessage) (int, any) { return 200, "pong" })
	require.NoError(t, d.Connect(context.Background()))
	t.Cleanup(d.Disconnect)
	return e, d
}

// TestEntraRolesREST checks each built-in role, and a custom role, against
// the REST operations of the SDK's clients: what Azure's role definitions
// allow succeeds, the rest fails with iothub.ErrUnauthorized.
func TestEntraRolesREST(t *testing.T) {
	t.Parallel()
	e, _ := startEntraHub(t)

	type op struct {
		name string
		do   func(ctx context.Context, c *entraClients, suffix string) error
	}
	ops := []op{
		{"GetDevice", func(ctx context.Context, c *entraClients, _ string) error {
			_, err := c.registry.GetDevice(ctx, "dev1")
			return err
		}},
		{"ListModules", func(ctx context.Context, c *entraClients, _ string) error {
			_, err := c.registry.ListModules(ctx, "dev1")
			return err
		}},
		{"CreateDevice", func(ctx context.Context, c *entraClients, suffix string) error {
			_, err := c.registry.CreateDevice(ctx, &registry.Device{DeviceID: "new-" + suffix})
			return err
		}},
		{"Statistics", func(ctx context.Context, c *entraClients, _ string) error {
			_, err := c.registry.Statistics(ctx)
			return err
		}},
		{"GetTwin", func(ctx context.Context, c *entraClients, _ string) error {
			_, err := c.twin.Get(ctx, "dev1")
			return err
		}},
		{"UpdateTwin", func(ctx context.Context, c *entraClients, suffix string) error {
			_, err := c.twin.Update(ctx, "dev1", &twin.Patch{Tags: map[string]any{"by": suffix}})
			return err
		}},
		{"QueryTwins", func(ctx context.Context, c *entraClients, _ string) error {
			_, err := c.twin.QueryPage(ctx, "SELECT * FROM devices", nil)
			return err
		}},
		{"InvokeMethod", func(ctx context.Context, c *entraClients, _ string) error {
			resp, err := c.methods.Invoke(ctx, "dev1", &methods.Request{MethodName: "ping"})
			if err == nil && resp.Status != 200 {
				return errors.New("unexpected method status")
			}
			return err
		}},
		{"PurgeC2D", func(ctx context.Context, c *entraClients, _ string) error {
			_, err := c.c2d.Purge(ctx, "dev1")
			return err
		}},
	}
	all := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	cases := []struct {
		name    string
		roles   []string
		allowed map[string]bool
	}{
		{"data reader", []string{emulator.RoleDataReader}, all("GetDevice", "ListModules", "Statistics", "GetTwin", "QueryTwins")},
		{"registry contributor", []string{emulator.RoleRegistryContributor}, all("GetDevice", "ListModules", "CreateDevice")},
		{"twin contributor", []string{emulator.RoleTwinContributor}, all("GetTwin", "UpdateTwin", "QueryTwins")},
		{"data contributor", []string{emulator.RoleDataContributor}, all("GetDevice", "ListModules", "CreateDevice", "Statistics", "GetTwin", "UpdateTwin", "QueryTwins", "InvokeMethod", "PurgeC2D")},
		{"role definition id", []string{"4ea46cd5-c1b2-4a8e-910b-273211f9ce47"}, all("GetDevice", "ListModules", "CreateDevice")},
		{"registry and twin contributor", []string{emulator.RoleRegistryContributor, emulator.RoleTwinContributor}, all("GetDevice", "ListModules", "CreateDevice", "GetTwin", "UpdateTwin", "QueryTwins")},
		{"custom role: methods and c2d", []string{"Microsoft.Devices/IotHubs/directMethods/invoke/action", "Microsoft.Devices/IotHubs/cloudToDeviceMessages/*"}, all("InvokeMethod", "PurgeC2D")},
		{"no role", nil, all()},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newEntraClients(t, e, tc.roles...)
			for _, o := range ops {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := o.do(ctx, c, strings.ReplaceAll(tc.name, " ", "-")+string(rune('a'+i)))
				cancel()
				if tc.allowed[o.name] {
					assert.NoError(t, err, o.name)
				} else {
					assert.ErrorIs(t, err, iothub.ErrUnauthorized, o.name)
				}
			}
		})
	}
}

// TestEntraBulkNeedsWriteAndDelete: as on IoT Hub, a bulk registry
// operation needs both devices/write and devices/delete.
func TestEntraBulkNeedsWriteAndDelete(t *testing.T) {
	t.Parallel()
	e, _ := startEntraHub(t)
	for i, tc := range []struct {
		roles []string
		ok    bool
	}{
		{[]string{"Microsoft.Devices/IotHubs/devices/write"}, false},
		{[]string{"Microsoft.Devices/IotHubs/devices/write", "Microsoft.Devices/IotHubs/devices/delete"}, true},
		{[]string{emulator.RoleRegistryContributor}, true},
	} {
		c := newEntraClients(t, e, tc.roles...)
		_, err := c.registry.CreateDevices(context.Background(), []*registry.Device{{DeviceID: "bulk-" + string(rune('a'+i))}}, nil)
		if tc.ok {
			assert.NoError(t, err, tc.roles)
		} else {
			assert.ErrorIs(t, err, iothub.ErrUnauthorized, tc.roles)
		}
	}
}

// TestEntraBearerRaw calls the REST API with net/http and a bearer token
// from the credential, as any HTTP client would.
func TestEntraBearerRaw(t *testing.T) {
	t.Parallel()
	h := start(t, &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "dev1"}}})
	token := func(lifetime time.Duration, roles ...string) string {
		tok, err := h.e.TokenCredentialWithLifetime(lifetime, roles...).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{auth.EntraIDScope}})
		require.NoError(t, err)
		return tok.Token
	}
	other := start(t, nil)
	foreign, err := other.e.TokenCredential(emulator.RoleDataContributor).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{auth.EntraIDScope}})
	require.NoError(t, err)
	reader := token(time.Hour, emulator.RoleDataReader)

	get := func(header string) reply {
		req, err := http.NewRequest(http.MethodGet, h.e.URL()+"/twins/dev1?"+apiVersion, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", header)
		resp, err := h.e.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var r reply
		r.Status, r.Header = resp.StatusCode, resp.Header
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&json.RawMessage{}))
		return r
	}
	assert.Equal(t, http.StatusOK, get("Bearer "+reader).Status)
	assert.Equal(t, http.StatusOK, get("bearer "+reader).Status, "the scheme is case-insensitive")
	for name, header := range map[string]string{
		"expired":               "Bearer " + token(-time.Minute, emulator.RoleDataReader),
		"another emulator's":    "Bearer " + foreign.Token,
		"tampered":              "Bearer " + tamper(reader),
		"no role for the twin":  "Bearer " + token(time.Hour, emulator.RoleRegistryContributor),
		"empty":                 "Bearer ",
		"not a JWT":             "Bearer not-a-token",
		"unsigned (alg none)":   "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJodHRwczovL2lvdGh1YnMuYXp1cmUubmV0In0.",
		"SAS with Bearer label": "Bearer " + h.token("iothubowner"),
	} {
		r := get(header)
		assert.Equal(t, http.StatusUnauthorized, r.Status, name)
	}

	// The error body names the missing data action, never the token.
	req, err := http.NewRequest(http.MethodPatch, h.e.URL()+"/twins/dev1?"+apiVersion, strings.NewReader(`{"tags":{"a":1}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+reader)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.e.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct{ Message string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body.Message, "Microsoft.Devices/IotHubs/twins/write")
	assert.NotContains(t, body.Message, reader[:20])
}

// tamper flips a character of a token's payload, keeping it well-formed.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	if p[5] == 'A' {
		p[5] = 'B'
	} else {
		p[5] = 'A'
	}
	parts[1] = string(p)
	return strings.Join(parts, ".")
}

// TestEntraTokenCredential covers the credential itself: the scope it
// serves, the roles it knows, the lifetime of its tokens.
func TestEntraTokenCredential(t *testing.T) {
	t.Parallel()
	h := start(t, nil)
	ctx := context.Background()
	scope := policy.TokenRequestOptions{Scopes: []string{auth.EntraIDScope}}

	before := time.Now()
	tok, err := h.e.TokenCredential(emulator.RoleDataReader).GetToken(ctx, scope)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(tok.Token, ".")+1)
	assert.WithinDuration(t, before.Add(time.Hour), tok.ExpiresOn, 2*time.Second)

	tok, err = h.e.TokenCredentialWithLifetime(time.Minute, emulator.RoleDataReader).GetToken(ctx, scope)
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(time.Minute), tok.ExpiresOn, 2*time.Second)

	for name, scopes := range map[string][]string{
		"none":            nil,
		"another":         {"https://management.azure.com/.default"},
		"two":             {auth.EntraIDScope, "openid"},
		"resource, not …": {"https://iothubs.azure.net"},
	} {
		_, err := h.e.TokenCredential(emulator.RoleDataReader).GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes})
		assert.ErrorContains(t, err, auth.EntraIDScope, name)
	}
	// Azure has no such built-in role; a custom role is written as data actions.
	for _, role := range []string{"IoT Hub Service Contributor", "Owner", "Microsoft.Devices/IotHubs/nothing/read", ""} {
		_, err := h.e.TokenCredential(role).GetToken(ctx, scope)
		assert.ErrorContains(t, err, "built-in role", role)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = h.e.TokenCredential(emulator.RoleDataReader).GetToken(canceled, scope)
	assert.ErrorIs(t, err, context.Canceled)

	assert.NotContains(t, fmtString(h.e.TokenCredential(emulator.RoleDataReader)), "ey")
}

func fmtString(v any) string {
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	return ""
}

// TestEntraCBS sends and receives over AMQP with jwt put-tokens: the C2D
// sender needs cloudToDeviceMessages/send, the feedback receiver
// cloudToDeviceMessages/feedback, file notifications
// fileUpload/notifications (which IoT Hub Data Reader has).
func TestEntraCBS(t *testing.T) {
	t.Parallel()
	e, d := startEntraHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, role := range []string{emulator.RoleDataContributor, "Microsoft.Devices/IotHubs/cloudToDeviceMessages/send/action"} {
		c := newEntraClients(t, e, role)
		require.NoError(t, c.c2d.Send(ctx, "dev1", &c2d.Message{Body: []byte("hello " + role)}), role)
	}
	for range 2 {
		m, err := d.ReceiveC2D(ctx)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(m.Body), "hello "))
		require.NoError(t, m.Complete(ctx))
	}

	for _, role := range []string{emulator.RoleDataReader, emulator.RoleTwinContributor, emulator.RoleRegistryContributor} {
		c := newEntraClients(t, e, role)
		err := c.c2d.Send(ctx, "dev1", &c2d.Message{Body: []byte("refused")})
		assert.ErrorIs(t, err, iothub.ErrUnauthorized, role)
	}

	reader := newEntraClients(t, e, emulator.RoleDataReader)
	err := reader.c2d.ReceiveFeedback(ctx, func(context.Context, *c2d.FeedbackBatch) error { return nil })
	assert.ErrorIs(t, err, iothub.ErrUnauthorized, "Data Reader has no cloudToDeviceMessages/feedback/action")

	require.NoError(t, d.UploadFile(ctx, "photo.jpg", make([]byte, 1234)))
	got := make(chan *c2d.FileNotification, 1)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go func() {
		_ = reader.c2d.ReceiveFileNotifications(rctx, func(_ context.Context, n *c2d.FileNotification) error {
			select {
			case got <- n:
			default:
			}
			return nil
		})
	}()
	select {
	case n := <-got:
		assert.Equal(t, "dev1", n.DeviceID)
		assert.Equal(t, int64(1234), n.BlobSizeInBytes)
	case <-ctx.Done():
		t.Fatal("no file notification for IoT Hub Data Reader")
	}
}

// TestEntraCBSExpiredToken: a jwt put-token that has expired is refused.
func TestEntraCBSExpiredToken(t *testing.T) {
	t.Parallel()
	e, _ := startEntraHub(t)
	cred := auth.NewTokenCredential(e.TokenCredentialWithLifetime(-time.Minute, emulator.RoleDataContributor))
	c, err := c2d.NewClient(e.HostName(), cred, &c2d.ClientOptions{ClientOptions: iothub.ClientOptions{TLSConfig: e.TLSConfig()}})
	require.NoError(t, err)
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.Error(t, c.Send(ctx, "dev1", &c2d.Message{Body: []byte("late")}))
}
