package eventhub

import (
	"context"
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
	sas, err := auth.ParseSAS(hub.Value)
	require.NoError(t, err)
	assert.True(t, sas.VerifySignature(key), "the hub's own token is signed the IoT Hub way")

	eh, err := c.ehCred.Token(ctx, "amqp://ihsu-ns.servicebus.windows.net/myhub")
	require.NoError(t, err)
	sas, err = auth.ParseSAS(eh.Value)
	require.NoError(t, err)
	assert.False(t, sas.VerifySignature(key), "the endpoint's token is signed with the key's text")
	assert.Equal(t, "service", sas.KeyName)
}
