package methods

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	w, err := encode(&Request{MethodName: "reboot"})
	require.NoError(t, err)
	assert.Equal(t, 30, w.ResponseTimeoutInSeconds)
	assert.Equal(t, 0, w.ConnectTimeoutInSeconds)
	assert.JSONEq(t, "null", string(w.Payload))

	w, err = encode(&Request{MethodName: "fan", Payload: map[string]any{"on": true}, ResponseTimeout: 5500 * time.Millisecond, ConnectTimeout: 300 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 6, w.ResponseTimeoutInSeconds, "rounded up")
	assert.Equal(t, 300, w.ConnectTimeoutInSeconds)
	assert.JSONEq(t, `{"on":true}`, string(w.Payload))

	w, err = encode(&Request{MethodName: "raw", Payload: json.RawMessage(`[1,2]`)})
	require.NoError(t, err)
	assert.Equal(t, `[1,2]`, string(w.Payload))

	big := strings.Repeat("x", MaxPayloadSize-2) // the quotes make it exactly the limit
	_, err = encode(&Request{MethodName: "ok", Payload: big})
	require.NoError(t, err)
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		req  *Request
		want error
	}{
		{"nil", nil, iothub.ErrArgumentInvalid},
		{"no name", &Request{}, iothub.ErrArgumentInvalid},
		{"bad raw json", &Request{MethodName: "m", Payload: json.RawMessage(`{`)}, iothub.ErrArgumentInvalid},
		{"unmarshalable", &Request{MethodName: "m", Payload: make(chan int)}, iothub.ErrArgumentInvalid},
		{"too large", &Request{MethodName: "m", Payload: strings.Repeat("x", MaxPayloadSize)}, iothub.ErrMessageTooLarge},
		{"response timeout too short", &Request{MethodName: "m", ResponseTimeout: 4 * time.Second}, iothub.ErrArgumentInvalid},
		{"response timeout too long", &Request{MethodName: "m", ResponseTimeout: 301 * time.Second}, iothub.ErrArgumentInvalid},
		{"negative connect timeout", &Request{MethodName: "m", ConnectTimeout: -time.Second}, iothub.ErrArgumentInvalid},
		{"connect timeout too long", &Request{MethodName: "m", ConnectTimeout: 301 * time.Second}, iothub.ErrArgumentInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := encode(tc.req)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
