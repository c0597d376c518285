package eventhub_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub/eventhub"
)

// countingHandler counts log records whose message contains a word.
type countingHandler struct {
	mu    sync.Mutex
	words map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.words {
		if strings.Contains(r.Message, w) {
			h.words[w]++
		}
	}
	return nil
}

func (h *countingHandler) count(w string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.words[w]
}

// TestRedirectResolvedAgain: when the Event Hub-compatible endpoint stops
// answering, the consumer asks the IoT Hub again where it is, and the
// receiver resumes after its last event.
func TestRedirectResolvedAgain(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, 2)
	ctx := timeout(t, 30*time.Second)
	logs := &countingHandler{words: map[string]int{"redirected": 0, "forgotten": 0}}
	var failDials atomic.Int32
	var d net.Dialer
	c := newConsumer(t, h.ConnectionString(), &eventhub.ConsumerOptions{
		Logger: slog.New(logs),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if failDials.Add(-1) >= 0 {
				return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("endpoint unreachable")}
			}
			failDials.Store(0)
			return d.DialContext(ctx, network, addr)
		},
	})
	r, err := c.NewPartitionReceiver("0", &eventhub.ReceiverOptions{StartPosition: eventhub.StartPosition{Earliest: true}})
	require.NoError(t, err)
	defer r.Close(ctx)
	h.send(t, 0, 5)
	got := receiveN(t, ctx, r, 5)
	assert.Equal(t, 1, logs.count("redirected"))

	failDials.Store(2)
	h.DropAMQPConnections()
	h.send(t, 0, 5)
	got = append(got, receiveN(t, ctx, r, 5)...)
	checkSequence(t, got, 0)
	assert.Equal(t, 1, logs.count("forgotten"), "the endpoint was forgotten after two failed dials")
	assert.Equal(t, 2, logs.count("redirected"), "and the redirect resolved again")
}
