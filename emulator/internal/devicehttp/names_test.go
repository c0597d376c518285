package devicehttp

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSentNames(t *testing.T) {
	t.Parallel()
	header := http.Header{"Iothub-App-Alerttype": {"hot"}, "Authorization": {"SharedAccessSignature sr=x"}}
	block := "POST /devices/d1/messages/events?api-version=2021-04-12 HTTP/1.1\r\nHost: h\r\niothub-app-alertType: hot\r\nauthorization: SharedAccessSignature sr=x\r\nTransfer-Encoding: chunked\r\n\r\n"
	assert.Equal(t, map[string]string{"Iothub-App-Alerttype": "iothub-app-alertType", "Authorization": "authorization"}, sentNames([]byte(block), header))

	for name, other := range map[string]string{
		"another value":   "POST / HTTP/1.1\r\niothub-app-alertType: cold\r\nauthorization: SharedAccessSignature sr=x\r\n\r\n",
		"a header less":   "POST / HTTP/1.1\r\niothub-app-alertType: hot\r\n\r\n",
		"a header more":   "POST / HTTP/1.1\r\niothub-app-alertType: hot\r\nauthorization: SharedAccessSignature sr=x\r\nX-Other: 1\r\n\r\n",
		"not a header":    "POST / HTTP/1.1\r\nnonsense\r\n\r\n",
		"spaced name":     "POST / HTTP/1.1\r\n iothub-app-alertType: hot\r\nauthorization: SharedAccessSignature sr=x\r\n\r\n",
		"no lines at all": "",
	} {
		assert.Nil(t, sentNames([]byte(other), header), name)
	}

	// Without the spelling, a name is lower-cased.
	ev := headerEvent(http.Header{"Iothub-App-Alerttype": {"hot"}}, nil)
	assert.Equal(t, map[string]any{"alerttype": "hot"}, ev.Properties)
}
