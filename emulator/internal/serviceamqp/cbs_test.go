package serviceamqp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/emulator/internal/cbs"
	"github.com/iotkit-go/iothub/emulator/internal/entra"
)

func TestServiceLinkNeed(t *testing.T) {
	assert.Equal(t, cbs.ServiceConnect|cbsC2DSend, serviceLinkNeed("/messages/devicebound"))
	assert.Equal(t, cbs.ServiceConnect|cbsC2DSend, serviceLinkNeed("amqps://h:1/messages/devicebound"))
	assert.Equal(t, cbs.ServiceConnect|cbsC2DFeedback, serviceLinkNeed("/messages/serviceBound/feedback"))
	assert.Equal(t, cbs.ServiceConnect|cbsFileNotifications, serviceLinkNeed("messages/servicebound/filenotifications/"))
	assert.Equal(t, cbs.ServiceConnect, serviceLinkNeed("hub/ConsumerGroups/$Default/Partitions/0"))
	assert.Zero(t, cbsRights(entra.DevicesRead|entra.TwinsWrite|entra.DirectMethodsInvoke)&(cbs.RegistryRead|cbs.RegistryWrite|cbs.ServiceConnect|cbs.DeviceConnect))
}

// TestEntraCannotOpenEventHubEndpoint: as on IoT Hub, the built-in Event
// Hub-compatible endpoint takes shared access policies only; a jwt
// put-token is accepted by $cbs but opens no partition and no $management.
func TestEntraCannotOpenEventHubEndpoint(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)

	tok := e.token(t, time.Hour, entra.RoleDataContributor)
	code, desc := putToken(ctx, t, sess, auth.TokenTypeJWT, tok.Token, "amqps://"+e.HostName()+"/"+e.HubName())
	require.Equal(t, int32(200), code, desc)

	for _, addr := range []string{e.HubName() + "/ConsumerGroups/$Default/Partitions/0"} {
		r, err := sess.NewReceiver(ctx, addr, nil)
		if err == nil {
			_, err = r.Receive(ctx, nil)
		}
		var ae *amqp.Error
		require.ErrorAs(t, err, &ae, addr)
		assert.Equal(t, amqp.ErrCondUnauthorizedAccess, ae.Condition, addr)
	}

	code, desc = putToken(ctx, t, sess, auth.TokenTypeJWT, tamperPayload(tok.Token), "amqps://"+e.HostName()+"/messages/devicebound")
	assert.Equal(t, int32(401), code)
	assert.Contains(t, desc, "signature")
	code, _ = putToken(ctx, t, sess, "bogus", tok.Token, "amqps://"+e.HostName()+"/messages/devicebound")
	assert.Equal(t, int32(401), code)
}

// putToken sends one CBS put-token and returns the status code and
// description of the answer.
func putToken(ctx context.Context, t *testing.T, sess *amqp.Session, tokenType, token, audience string) (int32, string) {
	t.Helper()
	const replyTo = "cbs-reply"
	sender, err := sess.NewSender(ctx, "$cbs", nil)
	require.NoError(t, err)
	defer sender.Close(ctx)
	receiver, err := sess.NewReceiver(ctx, "$cbs", &amqp.ReceiverOptions{TargetAddress: replyTo})
	require.NoError(t, err)
	defer receiver.Close(ctx)
	msg := &amqp.Message{
		Value:                 token,
		Properties:            &amqp.MessageProperties{MessageID: "1", ReplyTo: ptr(replyTo)},
		ApplicationProperties: map[string]any{"operation": "put-token", "type": tokenType, "name": audience},
	}
	require.NoError(t, sender.Send(ctx, msg, nil))
	resp, err := receiver.Receive(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, receiver.AcceptMessage(ctx, resp))
	code, ok := resp.ApplicationProperties["status-code"].(int32)
	if !ok {
		t.Fatalf("status-code %T", resp.ApplicationProperties["status-code"])
	}
	desc, _ := resp.ApplicationProperties["status-description"].(string)
	return code, desc
}

func ptr[T any](v T) *T { return &v }

// TestCBSEventHubsStyleSignature: the Event Hubs SDKs sign with the key's
// text rather than its base64-decoded bytes; the emulator takes such a
// token for the Event Hub-compatible entity only, as Azure does.
func TestCBSEventHubsStyleSignature(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)

	p, _ := e.hub.Policy("iothubowner")
	textKeySAS := func(uri, key string) string {
		sr := strings.ToLower(url.QueryEscape(uri))
		se := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
		h := hmac.New(sha256.New, []byte(key))
		h.Write([]byte(sr + "\n" + se))
		sig := url.QueryEscape(base64.StdEncoding.EncodeToString(h.Sum(nil)))
		return "SharedAccessSignature sr=" + sr + "&sig=" + sig + "&se=" + se + "&skn=" + p.Name
	}
	entity := "amqp://" + e.HostName() + "/" + e.HubName()
	for name, tc := range map[string]struct {
		token, audience string
		want            int32
	}{
		"entity, primary key":    {textKeySAS(entity, p.PrimaryKey), entity, 200},
		"entity, secondary key":  {textKeySAS(entity, p.SecondaryKey), entity, 200},
		"entity, wrong key":      {textKeySAS(entity, "c2VjcmV0"), entity, 401},
		"IoT Hub's own endpoint": {textKeySAS("amqp://"+e.HostName()+"/messages/devicebound", p.PrimaryKey), "amqp://" + e.HostName() + "/messages/devicebound", 401},
		"whole hub":              {textKeySAS(e.HostName(), p.PrimaryKey), e.HostName(), 401},
	} {
		code, desc := putToken(ctx, t, sess, auth.TokenTypeSAS, tc.token, tc.audience)
		assert.Equal(t, tc.want, code, "%s: %s", name, desc)
	}
}

// TestEntraCBSGrantExpires: a jwt grant ends at the token's exp; a link it
// authorised is detached with amqp:unauthorized-access when no new token
// comes.
func TestEntraCBSGrantExpires(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := amqp.Dial(ctx, "amqp://"+e.HostName(), &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	require.NoError(t, err)
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	require.NoError(t, err)

	tok := e.token(t, 2*time.Second, entra.RoleDataReader)
	code, desc := putToken(ctx, t, sess, auth.TokenTypeJWT, tok.Token, "amqps://"+e.HostName()+"/messages/serviceBound/filenotifications")
	require.Equal(t, int32(200), code, desc)
	r, err := sess.NewReceiver(ctx, "/messages/serviceBound/filenotifications", nil)
	require.NoError(t, err, "Data Reader may receive file notifications")
	_, err = r.Receive(ctx, nil)
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, amqp.ErrCondUnauthorizedAccess, ae.Condition)
	assert.False(t, time.Now().Before(tok.ExpiresOn), "detached at the token's expiry, not before")
}

// tamperPayload changes one character of a token's payload.
func tamperPayload(tok string) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	p[10] ^= 1
	parts[1] = string(p)
	return strings.Join(parts, ".")
}
