package emulator_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator"
)

// amqpHub starts an emulator and returns it with a go-amqp session on its
// port (SASL ANONYMOUS unless opts says otherwise).
func amqpHub(t *testing.T, opts *amqp.ConnOptions) (*emulator.Emulator, *amqp.Session) {
	t.Helper()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e, amqpSession(t, e, opts)
}

func amqpSession(t testing.TB, e *emulator.Emulator, opts *amqp.ConnOptions) *amqp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts == nil {
		opts = &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()}
	}
	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)
	return s
}

func policyKey(e *emulator.Emulator, name string) string {
	for _, p := range e.Policies() {
		if p.Name == name {
			return p.PrimaryKey
		}
	}
	return ""
}

func sign(t *testing.T, resource, policy, key string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.SignSAS(resource, policy, key, time.Now().Add(ttl))
	require.NoError(t, err)
	return tok
}

// putToken runs one $cbs put-token and returns its status code.
func putToken(t testing.TB, s *amqp.Session, token, audience string) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recv, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: "cbs-reply"})
	require.NoError(t, err)
	defer recv.Close(ctx)
	snd, err := s.NewSender(ctx, "$cbs", nil)
	require.NoError(t, err)
	defer snd.Close(ctx)
	reply := "cbs-reply"
	require.NoError(t, snd.Send(ctx, &amqp.Message{
		Value:                 token,
		Properties:            &amqp.MessageProperties{MessageID: "1", ReplyTo: &reply},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": audience},
	}, nil))
	resp, err := recv.Receive(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, recv.AcceptMessage(ctx, resp))
	code, _ := resp.ApplicationProperties["status-code"].(int32)
	return code
}

func condition(t *testing.T, err error) amqp.ErrCond {
	t.Helper()
	var le *amqp.LinkError
	if errors.As(err, &le) && le.RemoteErr != nil {
		return le.RemoteErr.Condition
	}
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae, "%v", err)
	return ae.Condition
}

func TestCBSPutToken(t *testing.T) {
	t.Parallel()
	e, s := amqpHub(t, nil)
	host := e.HostName()
	key := policyKey(e, "service")
	cases := []struct {
		name  string
		token string
		want  int32
	}{
		{"valid", sign(t, host, "service", key, time.Hour), 200},
		{"hub name form", sign(t, e.HubName()+".azure-devices.net", "service", key, time.Hour), 200},
		{"forged", sign(t, host, "service", "Zm9yZ2VkLWtleS1mb3JnZWQta2V5LWZvcmdlZC1rZXk=", time.Hour), 401},
		{"expired", sign(t, host, "service", key, -time.Minute), 401},
		{"other hub", sign(t, "other.azure-devices.net", "service", key, time.Hour), 401},
		{"unknown policy", sign(t, host, "nobody", key, time.Hour), 401},
		{"not a token", "hello", 401},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, putToken(t, s, tc.token, host), tc.name)
	}
}

// TestCBSOfficialClientForms puts tokens the ways the official clients do:
// azure-iot's CBS agent attaches its receiver without a target address and
// sends reply-to "cbs"; @azure/core-amqp names the receiver link after its
// reply-to, again without a target. Both get an answer, with 200 "OK" as
// the hub sends.
func TestCBSOfficialClientForms(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), nil)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	cases := []struct{ name, linkName, replyTo string }{
		{"azure-iot", "receiver-3c9f0e", "cbs"},
		{"core-amqp", "cbs-1f2e3d4c", "cbs-1f2e3d4c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s := amqpSession(t, e, nil)
			snd, err := s.NewSender(ctx, "$cbs", nil)
			require.NoError(t, err)
			recv, err := s.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{Name: tc.linkName})
			require.NoError(t, err)
			require.NoError(t, snd.Send(ctx, &amqp.Message{
				Value:      sign(t, e.HostName(), "service", policyKey(e, "service"), time.Hour),
				Properties: &amqp.MessageProperties{MessageID: "put-1", ReplyTo: &tc.replyTo, To: ptr("$cbs")},
				ApplicationProperties: map[string]any{
					"operation": "put-token", "type": "servicebus.windows.net:sastoken", "name": e.HostName(),
				},
			}, nil))
			resp, err := recv.Receive(ctx, nil)
			require.NoError(t, err)
			require.NoError(t, recv.AcceptMessage(ctx, resp))
			assert.Equal(t, "put-1", resp.Properties.CorrelationID)
			assert.Equal(t, int32(200), resp.ApplicationProperties["status-code"])
			assert.Equal(t, "OK", resp.ApplicationProperties["status-description"])
			// The grant is in force: the C2D sender attaches.
			_, err = s.NewSender(ctx, "/messages/devicebound", nil)
			require.NoError(t, err)
		})
	}
}

func TestC2DNodeNeedsServiceConnect(t *testing.T) {
	t.Parallel()
	e, s := amqpHub(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.NewSender(ctx, "/messages/devicebound", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err), "no token")

	s2 := amqpSession(t, e, nil)
	require.Equal(t, int32(200), putToken(t, s2, sign(t, e.HostName(), "registryRead", policyKey(e, "registryRead"), time.Hour), e.HostName()))
	_, err = s2.NewSender(ctx, "/messages/devicebound", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err), "RegistryRead is not ServiceConnect")
	_, err = s2.NewReceiver(ctx, "/messages/serviceBound/feedback", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))

	s3 := amqpSession(t, e, nil)
	require.Equal(t, int32(200), putToken(t, s3, sign(t, e.HostName(), "service", policyKey(e, "service"), time.Hour), e.HostName()))
	snd, err := s3.NewSender(ctx, "/messages/devicebound", nil)
	require.NoError(t, err)
	to := "/devices/d1/messages/devicebound"
	require.NoError(t, snd.Send(ctx, &amqp.Message{Data: [][]byte{[]byte("x")}, Properties: &amqp.MessageProperties{To: &to, MessageID: "m"}}, nil))
	assert.Equal(t, 1, e.C2DQueueDepth("d1", ""))
	to = "/devices/ghost/messages/devicebound"
	err = snd.Send(ctx, &amqp.Message{Properties: &amqp.MessageProperties{To: &to}}, nil)
	assert.Equal(t, amqp.ErrCondNotFound, condition(t, err))
}

func TestSASLPlain(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	token := sign(t, e.HostName(), "service", policyKey(e, "service"), time.Hour)
	s := amqpSession(t, e, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("service@sas.root."+e.HubName(), token)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = s.NewSender(ctx, "/messages/devicebound", nil)
	require.NoError(t, err, "a SASL PLAIN identity needs no CBS token")

	_, err = amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("service@sas.root."+e.HubName(), "wrong")})
	require.Error(t, err)
	_, err = amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("service@sas.root.otherhub", token)})
	require.Error(t, err)
}

// TestSASLPlainEventHubsForm authenticates the way Event Hubs documents
// SASL PLAIN (user the policy name, password its key): good for the Event
// Hub-compatible entity with the policy's rights, and for nothing else.
func TestSASLPlainEventHubsForm(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dev, err := e.Device("d1")
	require.NoError(t, err)
	require.NoError(t, dev.Connect(ctx))
	require.NoError(t, dev.SendTelemetry(ctx, []byte("hello"), nil))

	s := amqpSession(t, e, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("service", policyKey(e, "service"))})
	var got *amqp.Message
	for _, pid := range e.PartitionIDs() {
		r, err := s.NewReceiver(ctx, e.HubName()+"/ConsumerGroups/$Default/Partitions/"+pid, &amqp.ReceiverOptions{
			Filters: []amqp.LinkFilter{amqp.NewSelectorFilter("amqp.annotation.x-opt-offset > '-1'")},
		})
		require.NoError(t, err, "partition %s", pid)
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		m, err := r.Receive(short, nil)
		cancel()
		if err == nil {
			got = m
			break
		}
	}
	require.NotNil(t, got, "the event was read with the key form of SASL PLAIN")
	assert.Equal(t, []byte("hello"), got.GetData())
	// The entity's $management node answers too (no CBS token needed).
	mgmt, err := s.NewReceiver(ctx, "$management", &amqp.ReceiverOptions{TargetAddress: "mgmt-reply"})
	require.NoError(t, err)
	req, err := s.NewSender(ctx, "$management", nil)
	require.NoError(t, err)
	require.NoError(t, req.Send(ctx, &amqp.Message{
		Properties:            &amqp.MessageProperties{MessageID: "m1", ReplyTo: ptr("mgmt-reply")},
		ApplicationProperties: map[string]any{"operation": "READ", "name": e.HubName(), "type": "com.microsoft:eventhub"},
	}, nil))
	resp, err := mgmt.Receive(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(200), resp.ApplicationProperties["status-code"])

	// The key form is Event Hubs', so it covers the entity only: the IoT
	// Hub's own nodes want a SAS token.
	_, err = s.NewSender(ctx, "/messages/devicebound", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))
	// A policy without ServiceConnect cannot read events.
	weak := amqpSession(t, e, &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("registryRead", policyKey(e, "registryRead"))})
	_, err = weak.NewReceiver(ctx, e.HubName()+"/ConsumerGroups/$Default/Partitions/0", nil)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, condition(t, err))
	// Wrong keys and unknown policies are refused at SASL.
	for _, plain := range []amqp.SASLType{
		amqp.SASLTypePlain("service", policyKey(e, "iothubowner")),
		amqp.SASLTypePlain("service", ""),
		amqp.SASLTypePlain("nobody", policyKey(e, "service")),
	} {
		_, err = amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: plain})
		require.Error(t, err)
	}
}

func TestTelemetryRedirect(t *testing.T) {
	t.Parallel()
	e, s := amqpHub(t, nil)
	require.Equal(t, int32(200), putToken(t, s, sign(t, e.HostName(), "service", policyKey(e, "service"), time.Hour), e.HostName()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.NewReceiver(ctx, "messages/events/ConsumerGroups/$Default/Partitions/0", nil)
	if err == nil {
		_, err = r.Receive(ctx, nil)
	}
	// The attach is refused with the redirect (go-amqp returns *amqp.Error
	// for a refused attach, *amqp.LinkError for a later detach).
	var remote *amqp.Error
	var le *amqp.LinkError
	if errors.As(err, &le) {
		remote = le.RemoteErr
	} else {
		require.ErrorAs(t, err, &remote)
	}
	require.NotNil(t, remote)
	assert.Equal(t, amqp.ErrCondLinkRedirect, remote.Condition)
	host, port, _ := strings.Cut(e.HostName(), ":")
	assert.Equal(t, host, remote.Info["hostname"])
	assert.Equal(t, host, remote.Info["network-host"])
	assert.Equal(t, port, fmt.Sprint(remote.Info["port"]))
	// Plain TCP here, so the address says amqp://: followers that dial the
	// address rather than hostname and port reach the endpoint too.
	assert.Equal(t, "amqp://"+e.HostName()+"/"+e.HubName()+"/ConsumerGroups/$Default/Partitions/0", remote.Info["address"])
}

func TestEventHubConnectionString(t *testing.T) {
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{Partitions: 8})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	cs, err := auth.ParseConnectionString(e.EventHubConnectionString())
	require.NoError(t, err)
	assert.Equal(t, "sb://"+e.HostName()+"/", cs.Endpoint)
	assert.Equal(t, e.HubName(), cs.EntityPath)
	assert.True(t, cs.UseDevelopmentEmulator)
	assert.Len(t, e.PartitionIDs(), 8)
}
