package amqpserver

import (
	"context"
	"errors"
	"testing"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodToken = "SharedAccessSignature sr=myhub.azure-devices.net&sig=abc&se=99999999999&skn=iothubowner"

func checkPlain(_ context.Context, user, pass string) (Identity, error) {
	policy, hub, ok := ParseSASUsername(user)
	switch {
	case !ok:
		return Identity{}, errors.New("not a service username")
	case policy == "iothubowner" && hub == "myhub" && pass == goodToken:
		return Identity{Rights: []string{"ServiceConnect", "RegistryRead"}}, nil
	case policy == "busy":
		return Identity{}, &SASLError{Code: 4, Reason: "try later"}
	}
	return Identity{}, errors.New("bad signature")
}

func TestSASL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     ServerOptions
		sasl     amqp.SASLType
		wantErr  bool
		wantIdty Identity
	}{
		{"plain accepted", ServerOptions{SASLPlain: checkPlain}, amqp.SASLTypePlain("iothubowner@sas.root.myhub", goodToken), false,
			Identity{Mechanism: "PLAIN", Name: "iothubowner@sas.root.myhub", Rights: []string{"ServiceConnect", "RegistryRead"}}},
		{"plain refused", ServerOptions{SASLPlain: checkPlain}, amqp.SASLTypePlain("iothubowner@sas.root.myhub", "forged"), true, Identity{}},
		{"plain sys-temp", ServerOptions{SASLPlain: checkPlain}, amqp.SASLTypePlain("busy@sas.root.myhub", "x"), true, Identity{}},
		{"plain not offered", ServerOptions{}, amqp.SASLTypePlain("u", "p"), true, Identity{}},
		{"anonymous", ServerOptions{}, amqp.SASLTypeAnonymous(), false, Identity{Mechanism: "ANONYMOUS"}},
		{"anonymous disabled", ServerOptions{DisableAnonymous: true, SASLPlain: checkPlain}, amqp.SASLTypeAnonymous(), true, Identity{}},
		{"no sasl allowed", ServerOptions{}, nil, false, Identity{Mechanism: "NONE"}},
		{"no sasl refused", ServerOptions{RequireSASL: true}, nil, true, Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, &tt.opts)
			ids := make(chan Identity, 1)
			require.NoError(t, ts.Handle("whoami", &Node{Outgoing: func(l *OutgoingLink) error {
				ids <- l.Conn().Identity()
				return nil
			}}))
			ctx := testCtx(t)
			conn, err := amqp.Dial(ctx, "amqp://"+ts.addr, &amqp.ConnOptions{SASLType: tt.sasl})
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			defer conn.Close()
			s, err := conn.NewSession(ctx, nil)
			require.NoError(t, err)
			_, err = s.NewReceiver(ctx, "whoami", nil)
			require.NoError(t, err)
			assert.Equal(t, tt.wantIdty, <-ids)
		})
	}
}

func TestParseSASUsername(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, policy, hub string
		ok              bool
	}{
		{"iothubowner@sas.root.myhub", "iothubowner", "myhub", true},
		{"service@sas.root.my-hub.azure-devices.net", "service", "my-hub.azure-devices.net", true},
		{"@sas.root.myhub", "", "", false},
		{"iothubowner@sas.root.", "", "", false},
		{"device1@sas.myhub", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		policy, hub, ok := ParseSASUsername(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.policy, policy, tt.in)
		assert.Equal(t, tt.hub, hub, tt.in)
	}
}
