package eventhub

import (
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
)

// TestRedirectedEndpointSignsTheEventHubsWay: IoT Hub checks a SAS keyed
// with the base64-decoded key, Event Hubs one keyed with the key's text;
// the consumer signs for each host the way that host checks.
func TestRedirectedEndpointSignsTheEventHubsWay(t *testing.T) {
	const key = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA=="
	c, err := NewConsumerFromConnectionString("HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey="+key, nil)
	require.NoError(t, err)
	ctx := context.Background()
	hub, err := c.cred.Token(ctx, "myhub.azure-devices.net")
	require.NoError(t, err)
	sas, err := auth.ParseSAS(hub.Value.Reveal())
	require.NoError(t, err)
	assert.True(t, sas.VerifySignature(key), "the hub's own token is signed the IoT Hub way")

	eh, err := c.ehCred.Token(ctx, "amqp://ihsu-ns.servicebus.windows.net/myhub")
	require.NoError(t, err)
	sas, err = auth.ParseSAS(eh.Value.Reveal())
	require.NoError(t, err)
	assert.False(t, sas.VerifySignature(key), "the endpoint's token is signed with the key's text")
	assert.Equal(t, "service", sas.KeyName)
}

// TestReceiversTakeTheLeastLoadedConnection: a new receiver joins the
// connection slot with the fewest open receivers, and Close frees its slot.
func TestReceiversTakeTheLeastLoadedConnection(t *testing.T) {
	c, err := NewConsumerFromConnectionString("HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0", &ConsumerOptions{Connections: 3})
	require.NoError(t, err)
	var rs []*PartitionReceiver
	for range 4 {
		r, err := c.NewPartitionReceiver("0", nil)
		require.NoError(t, err)
		rs = append(rs, r)
	}
	assert.Equal(t, []int{0, 1, 2, 0}, []int{rs[0].slot, rs[1].slot, rs[2].slot, rs[3].slot})
	require.NoError(t, rs[1].Close(context.Background()))
	require.NoError(t, rs[1].Close(context.Background()), "a second Close frees nothing more")
	r, err := c.NewPartitionReceiver("1", nil)
	require.NoError(t, err)
	assert.Equal(t, 1, r.slot, "the freed slot is the least loaded")
	assert.Equal(t, []int{2, 1, 1}, c.receivers)

	c, err = NewConsumerFromConnectionString("HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=c2VjcmV0", nil)
	require.NoError(t, err)
	assert.Equal(t, min(runtime.GOMAXPROCS(0), maxDefaultConnections), c.opts.Connections, "default")
}
