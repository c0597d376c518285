package c2d_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
)

func newHub(t testing.TB, opts *emulator.Options) (*emulator.Emulator, *c2d.Client) {
	t.Helper()
	e, err := emulator.Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	c, err := c2d.NewClientFromConnectionString(e.ConnectionString(), &c2d.ClientOptions{
		ClientOptions: iothub.ClientOptions{Retry: iothub.RetryOptions{RetryDelay: 20 * time.Millisecond, MaxRetryDelay: 500 * time.Millisecond}},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return e, c
}

func devices(ids ...string) *emulator.Options {
	o := &emulator.Options{}
	for _, id := range ids {
		o.Devices = append(o.Devices, emulator.DeviceSeed{DeviceID: id, Modules: []string{"mod"}})
	}
	return o
}

func connect(t testing.TB, e *emulator.Emulator, id string) *emulator.SimulatedDevice {
	t.Helper()
	d, err := e.Device(id)
	require.NoError(t, err)
	require.NoError(t, d.Connect(context.Background()))
	t.Cleanup(d.Disconnect)
	return d
}

func timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSendReceiveAndFeedback(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	ctx := timeout(t, 30*time.Second)
	dev := connect(t, e, "d1")

	msg := &c2d.Message{Body: []byte(`{"fan":"on"}`), ContentType: "application/json", CorrelationID: "corr",
		Ack: c2d.AckFull, Properties: map[string]string{"priority": "high"}}
	require.NoError(t, c.Send(ctx, "d1", msg))
	require.NotEmpty(t, msg.MessageID, "Send assigns a message id for feedback")

	got, err := dev.ReceiveC2D(ctx)
	require.NoError(t, err)
	assert.Equal(t, msg.Body, got.Body)
	assert.Equal(t, msg.MessageID, got.MessageID)
	assert.Equal(t, "corr", got.CorrelationID)
	assert.Equal(t, "application/json", got.ContentType)
	assert.Equal(t, map[string]string{"priority": "high"}, got.Properties)
	require.NoError(t, got.Complete(ctx))

	fctx, stop := context.WithCancel(ctx)
	var records []c2d.FeedbackRecord
	err = c.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		assert.False(t, b.EnqueuedTime.IsZero())
		records = append(records, b.Records...)
		stop()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Len(t, records, 1)
	assert.Equal(t, msg.MessageID, records[0].OriginalMessageID)
	assert.Equal(t, "d1", records[0].DeviceID)
	assert.Equal(t, c2d.StatusSuccess, records[0].StatusCode)
	assert.NotEmpty(t, records[0].DeviceGenerationID)
}

func TestSendToModule(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	ctx := timeout(t, 30*time.Second)
	mod, err := e.Module("d1", "mod")
	require.NoError(t, err)
	require.NoError(t, mod.Connect(ctx))
	defer mod.Disconnect()
	require.NoError(t, c.SendToModule(ctx, "d1", "mod", &c2d.Message{Body: []byte("m")}))
	got, err := mod.ReceiveC2D(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("m"), got.Body)
	require.NoError(t, got.Complete(ctx))
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1", "full"))
	ctx := timeout(t, 30*time.Second)

	err := c.Send(ctx, "ghost", &c2d.Message{})
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
	var he *iothub.Error
	require.ErrorAs(t, err, &he)
	err = c.SendToModule(ctx, "d1", "ghost", &c2d.Message{})
	require.ErrorIs(t, err, iothub.ErrModuleNotFound)

	for i := range 50 {
		require.NoError(t, c.Send(ctx, "full", &c2d.Message{Body: []byte(fmt.Sprint(i))}))
	}
	err = c.Send(ctx, "full", &c2d.Message{})
	require.ErrorIs(t, err, iothub.ErrQueueFull, "the 51st message")
	assert.Equal(t, 50, e.C2DQueueDepth("full", ""))

	before := e.ConnectionCount()
	err = c.Send(ctx, "d1", &c2d.Message{Body: make([]byte, 65*1024)})
	require.ErrorIs(t, err, iothub.ErrMessageTooLarge)
	for _, bad := range []struct{ dev, mod string }{{"", ""}, {"a b", ""}, {"d1", "x/y"}} {
		if bad.mod == "" {
			require.ErrorIs(t, c.Send(ctx, bad.dev, &c2d.Message{}), iothub.ErrArgumentInvalid)
		} else {
			require.ErrorIs(t, c.SendToModule(ctx, bad.dev, bad.mod, &c2d.Message{}), iothub.ErrArgumentInvalid)
		}
	}
	assert.Equal(t, before, e.ConnectionCount(), "refused before any network call")
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e, _ := newHub(t, devices("d1"))
	cs, err := e.PolicyConnectionString("registryRead")
	require.NoError(t, err)
	c, err := c2d.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err)
	defer c.Close(context.Background())
	ctx := timeout(t, 30*time.Second)
	require.ErrorIs(t, c.Send(ctx, "d1", &c2d.Message{}), iothub.ErrUnauthorized)
	require.ErrorIs(t, c.ReceiveFeedback(ctx, func(context.Context, *c2d.FeedbackBatch) error { return nil }), iothub.ErrUnauthorized)
}

// TestFeedbackOutcomes sends 1,000 messages with ack=full to 10 devices
// that complete 70 %, reject 20 % and let 10 % expire, and checks that
// the feedback matches exactly, message by message.
func TestFeedbackOutcomes(t *testing.T) {
	t.Parallel()
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("dev-%d", i)
	}
	e, c := newHub(t, devices(ids...))
	ctx := timeout(t, 2*time.Minute)
	want := map[string]c2d.FeedbackStatus{}
	var wantMu sync.Mutex

	// The 10 % that expire go first, with a short time to live, and are
	// left to expire before the devices start reading.
	for _, id := range ids {
		for j := range 10 {
			m := &c2d.Message{Body: []byte("late"), Ack: c2d.AckFull, ExpiryTime: time.Now().Add(time.Second), MessageID: fmt.Sprintf("%s-exp-%d", id, j)}
			require.NoError(t, c.Send(ctx, id, m))
			want[m.MessageID] = c2d.StatusExpired
		}
	}
	require.Eventually(t, func() bool {
		for _, id := range ids {
			if e.C2DQueueDepth(id, "") != 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond)

	var wg sync.WaitGroup
	for _, id := range ids {
		dev := connect(t, e, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 90 {
				m, err := dev.ReceiveC2D(ctx)
				if !assert.NoError(t, err) {
					return
				}
				var n int
				_, _ = fmt.Sscanf(string(m.Body), "%d", &n)
				if n%9 < 7 {
					assert.NoError(t, m.Complete(ctx))
				} else {
					assert.NoError(t, m.Reject(ctx))
				}
			}
		}()
	}
	for j := range 90 {
		for _, id := range ids {
			m := &c2d.Message{Body: []byte(fmt.Sprint(j)), Ack: c2d.AckFull}
			// A device that falls 50 messages behind fills its queue: back
			// off as a real sender must.
			for {
				err := c.Send(ctx, id, m)
				if !errors.Is(err, iothub.ErrQueueFull) {
					require.NoError(t, err)
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			wantMu.Lock()
			if j%9 < 7 {
				want[m.MessageID] = c2d.StatusSuccess
			} else {
				want[m.MessageID] = c2d.StatusRejected
			}
			wantMu.Unlock()
		}
	}
	wg.Wait()

	got := map[string]c2d.FeedbackStatus{}
	fctx, stop := context.WithCancel(ctx)
	err := c.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		for _, r := range b.Records {
			_, dup := got[r.OriginalMessageID]
			assert.False(t, dup, "one record per message")
			got[r.OriginalMessageID] = r.StatusCode
		}
		if len(got) >= 1000 {
			stop()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, want, got)
	counts := map[c2d.FeedbackStatus]int{}
	for _, s := range got {
		counts[s]++
	}
	assert.Equal(t, map[c2d.FeedbackStatus]int{c2d.StatusSuccess: 700, c2d.StatusRejected: 200, c2d.StatusExpired: 100}, counts)
}

func TestAbandonedFeedbackIsRedelivered(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	ctx := timeout(t, 30*time.Second)
	dev := connect(t, e, "d1")
	require.NoError(t, c.Send(ctx, "d1", &c2d.Message{Ack: c2d.AckPositive, MessageID: "again"}))
	m, err := dev.ReceiveC2D(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Complete(ctx))

	calls := 0
	fctx, stop := context.WithCancel(ctx)
	err = c.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		calls++
		require.Len(t, b.Records, 1)
		assert.Equal(t, "again", b.Records[0].OriginalMessageID)
		if calls == 1 {
			return errors.New("not now")
		}
		stop()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 2, calls, "an abandoned batch comes back")
}

func TestPurge(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	ctx := timeout(t, 30*time.Second)
	for range 3 {
		require.NoError(t, c.Send(ctx, "d1", &c2d.Message{Ack: c2d.AckNegative}))
	}
	res, err := c.Purge(ctx, "d1")
	require.NoError(t, err)
	assert.Equal(t, c2d.PurgeResult{DeviceID: "d1", TotalMessagesPurged: 3}, *res)
	assert.Zero(t, e.C2DQueueDepth("d1", ""))
	_, err = c.Purge(ctx, "ghost")
	require.ErrorIs(t, err, iothub.ErrDeviceNotFound)
	_, err = c.Purge(ctx, "bad id")
	require.ErrorIs(t, err, iothub.ErrArgumentInvalid)

	n := 0
	fctx, stop := context.WithCancel(ctx)
	_ = c.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		for _, r := range b.Records {
			assert.Equal(t, c2d.StatusPurged, r.StatusCode)
			n++
		}
		if n == 3 {
			stop()
		}
		return nil
	})
	assert.Equal(t, 3, n)
}

func TestFileNotifications(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("cam"))
	ctx := timeout(t, 30*time.Second)
	dev := connect(t, e, "cam")
	require.NoError(t, dev.UploadFile(ctx, "frame.jpg", make([]byte, 2048)))
	fctx, stop := context.WithCancel(ctx)
	var got *c2d.FileNotification
	err := c.ReceiveFileNotifications(fctx, func(_ context.Context, n *c2d.FileNotification) error {
		got = n
		stop()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, got)
	assert.Equal(t, "cam", got.DeviceID)
	assert.Equal(t, "cam/frame.jpg", got.BlobName)
	assert.Equal(t, int64(2048), got.BlobSizeInBytes)
	assert.Contains(t, got.BlobURI, "frame.jpg")
	assert.False(t, got.EnqueuedTime.IsZero())
}

// TestConnectionDropsLoseNothingSilently drops every AMQP connection while
// senders run: each Send either returned nil and its message reached the
// device exactly once, or returned an error.
func TestConnectionDropsLoseNothingSilently(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1", "d2", "d3", "d4"))
	ctx := timeout(t, 2*time.Minute)
	received := map[string]int{}
	var recvMu sync.Mutex
	var readers sync.WaitGroup
	rctx, stopReaders := context.WithCancel(ctx)
	for _, id := range []string{"d1", "d2", "d3", "d4"} {
		dev := connect(t, e, id)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				m, err := dev.ReceiveC2D(rctx)
				if err != nil {
					return
				}
				recvMu.Lock()
				received[m.MessageID]++
				recvMu.Unlock()
				_ = m.Complete(rctx)
			}
		}()
	}

	var ok, failed atomic.Int64
	sentOK := sync.Map{}
	var senders sync.WaitGroup
	for s := range 8 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for i := range 60 {
				id := fmt.Sprintf("d%d", s%4+1)
				m := &c2d.Message{MessageID: fmt.Sprintf("s%d-%d", s, i)}
				if err := c.Send(ctx, id, m); err != nil {
					var amqpErr *amqp.ConnError
					if errors.Is(err, c2d.ErrOutcomeUnknown) || errors.As(err, &amqpErr) || iothub.IsRetriable(err) {
						failed.Add(1)
						continue
					}
					t.Errorf("send %s: unexpected error %v", m.MessageID, err)
					continue
				}
				ok.Add(1)
				sentOK.Store(m.MessageID, true)
			}
		}()
	}
	for range 3 {
		time.Sleep(50 * time.Millisecond) // let sends be in flight when the connections drop
		e.DropAMQPConnections()
	}
	senders.Wait()
	require.Eventually(t, func() bool {
		recvMu.Lock()
		defer recvMu.Unlock()
		n := 0
		sentOK.Range(func(k, _ any) bool {
			if received[k.(string)] > 0 {
				n++
			}
			return true
		})
		return int64(n) == ok.Load()
	}, 30*time.Second, 20*time.Millisecond, "every message whose Send returned nil reaches its device")
	stopReaders()
	readers.Wait()
	for id, n := range received {
		assert.Equal(t, 1, n, "message %s delivered once", id)
	}
	assert.Equal(t, int64(480), ok.Load()+failed.Load())
	t.Logf("sends: %d acknowledged, %d reported as failed", ok.Load(), failed.Load())
}

// TestStoppingHandlerCompletes stops receiving from inside the handler
// (cancel the context, return nil), as `iothub c2d feedback --count 1`
// does: the batch and the notification were handled, so they are completed
// and never delivered again.
func TestStoppingHandlerCompletes(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	ctx := timeout(t, 30*time.Second)
	dev := connect(t, e, "d1")
	require.NoError(t, c.Send(ctx, "d1", &c2d.Message{Ack: c2d.AckFull, MessageID: "once"}))
	m, err := dev.ReceiveC2D(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Complete(ctx))
	require.NoError(t, dev.UploadFile(ctx, "once.bin", make([]byte, 10)))

	fctx, stop := context.WithCancel(ctx)
	err = c.ReceiveFeedback(fctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
		stop()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	nctx, stopN := context.WithCancel(ctx)
	err = c.ReceiveFileNotifications(nctx, func(context.Context, *c2d.FileNotification) error {
		stopN()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)

	// Nothing comes again: a second receiver waits in vain.
	again := 0
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = c.ReceiveFeedback(short, func(context.Context, *c2d.FeedbackBatch) error { again++; return nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	short2, cancel2 := context.WithTimeout(ctx, time.Second)
	defer cancel2()
	err = c.ReceiveFileNotifications(short2, func(context.Context, *c2d.FileNotification) error { again++; return nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, again, "a handled batch or notification was delivered again")
}

// TestSendAfterIdleDrop drops the client's connection while it is idle:
// the next send never reached the old connection, so it goes out on a new
// one and succeeds, queued once, instead of failing as "outcome unknown".
func TestSendAfterIdleDrop(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	ctx := timeout(t, 30*time.Second)
	require.NoError(t, c.Send(ctx, "d1", &c2d.Message{MessageID: "before"}))
	require.Positive(t, e.DropAMQPConnections())
	// Idle, as a sender is between messages: the client sees the close.
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, c.Send(ctx, "d1", &c2d.Message{MessageID: "after"}), "the first send after the drop")
	assert.Equal(t, 2, e.C2DQueueDepth("d1", ""), "each message queued once")
	dev := connect(t, e, "d1")
	for _, want := range []string{"before", "after"} {
		m, err := dev.ReceiveC2D(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, m.MessageID)
		require.NoError(t, m.Complete(ctx))
	}
}

func TestEventHubConnectionStringRefused(t *testing.T) {
	t.Parallel()
	e, _ := newHub(t, nil)
	_, err := c2d.NewClientFromConnectionString(e.EventHubConnectionString(), nil)
	var ce *auth.ConnectionStringError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Endpoint", ce.Field)
}

func TestConnect(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	ctx := timeout(t, 30*time.Second)
	assert.Equal(t, e.HostName(), c.HostName())
	before := e.ConnectionCount()
	require.NoError(t, c.Connect(ctx))
	require.NoError(t, c.Send(ctx, "d1", &c2d.Message{Body: []byte("x")}))
	assert.Equal(t, before+1, e.ConnectionCount(), "Send used the connection Connect opened")

	bad := strings.Replace(e.ConnectionString(), "SharedAccessKey=", "SharedAccessKey=AAAA", 1)
	wrong, err := c2d.NewClientFromConnectionString(bad, nil)
	require.NoError(t, err)
	defer wrong.Close(ctx)
	require.ErrorIs(t, wrong.Connect(ctx), iothub.ErrUnauthorized, "a refused key shows at once")
}
