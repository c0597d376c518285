package eventhubs

import (
	"errors"
	"testing"

	"github.com/iotkit-go/iothub/emulator/internal/amqpserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedirectMessagesEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{AdvertiseHost: "127.0.0.1", AdvertisePort: 45671})
	s := e.session(t)
	for _, tt := range []struct{ source, address string }{
		{"messages/events/ConsumerGroups/$Default/Partitions/0", "amqps://127.0.0.1:45671/myhub/ConsumerGroups/$Default/Partitions/0"},
		{"/messages/events/$management", "amqps://127.0.0.1:45671/myhub/$management"},
		{"amqps://myhub.azure-devices.net/messages/events/", "amqps://127.0.0.1:45671/myhub/"},
		{"messages/events", "amqps://127.0.0.1:45671/myhub"},
	} {
		t.Run(tt.source, func(t *testing.T) {
			_, err := s.NewReceiver(testCtx(t), tt.source, receiverOpts("", nil, 10))
			rerr := requireRefused(t, err, "amqp:link:redirect")
			assert.Equal(t, map[string]any{
				"hostname":     "127.0.0.1",
				"network-host": "127.0.0.1",
				"port":         int32(45671),
				"address":      tt.address,
			}, rerr.Info)
		})
	}
}

func TestRedirectPlainAndIPv6(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{AdvertiseHost: "::1", AdvertisePort: 5672, AdvertisePlain: true})
	_, err := e.session(t).NewReceiver(testCtx(t), "messages/events/ConsumerGroups/$Default/Partitions/2", receiverOpts("", nil, 10))
	rerr := requireRefused(t, err, "amqp:link:redirect")
	assert.Equal(t, "amqp://[::1]:5672/myhub/ConsumerGroups/$Default/Partitions/2", rerr.Info["address"])
	assert.Equal(t, int32(5672), rerr.Info["port"])
}

func TestRedirectAuthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{Authorize: func(_ *amqpserver.Conn, address string) error {
		return errors.New("no token for " + address)
	}})
	_, err := e.session(t).NewReceiver(testCtx(t), "messages/events/$management", receiverOpts("", nil, 10))
	rerr := requireRefused(t, err, "amqp:unauthorized-access")
	assert.Equal(t, "no token for messages/events/$management", rerr.Description)
}

func TestAttachAuthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{Authorize: func(_ *amqpserver.Conn, address string) error {
		if address == partitionAddr("myhub", "$Default", "1") {
			return nil
		}
		return &amqpserver.Error{Condition: "amqp:unauthorized-access", Description: "Unauthorized access. 'Listen' claim(s) are required to perform this operation."}
	}})
	s := e.session(t)
	_, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts("", nil, 10))
	requireRefused(t, err, "amqp:unauthorized-access")
	r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "1"), receiverOpts("", nil, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close(testCtx(t)))
}

func TestAuthorizeLinkReplacesAuthorizeForAttaches(t *testing.T) {
	t.Parallel()
	var links []string
	e := newEnv(t, &Options{
		Authorize: func(*amqpserver.Conn, string) error { return errors.New("Authorize must not be asked for attaches") },
		AuthorizeLink: func(l *amqpserver.Link) error {
			links = append(links, l.Address())
			if l.Param("pid") == "2" {
				return &amqpserver.Error{Condition: "amqp:unauthorized-access", Description: "token expired"}
			}
			return nil
		},
	})
	s := e.session(t)
	r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "1"), receiverOpts("", nil, 10))
	require.NoError(t, err)
	require.NoError(t, r.Close(testCtx(t)))
	_, err = s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "2"), receiverOpts("", nil, 10))
	requireRefused(t, err, "amqp:unauthorized-access")
	_, err = s.NewReceiver(testCtx(t), "messages/events", receiverOpts("", nil, 10))
	requireRefused(t, err, "amqp:link:redirect")
	assert.Equal(t, []string{partitionAddr("myhub", "$Default", "1"), partitionAddr("myhub", "$Default", "2"), "messages/events"}, links)
}
