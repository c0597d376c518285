package eventhubs

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/go-amqp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReceiveStartPositions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const pid = "1"
	e.appendN(t, deviceFor(e.hub, pid), 10)
	s := e.session(t)
	addr := partitionAddr("myhub", "$Default", pid)

	// Learn the offsets and enqueued times from a full read.
	r, err := s.NewReceiver(testCtx(t), addr, receiverOpts("amqp.annotation.x-opt-offset > '-1'", nil, 100))
	require.NoError(t, err)
	var offsets []string
	var times []time.Time
	for i := range 10 {
		m, err := r.Receive(testCtx(t), nil)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("event-%d", i), string(m.GetData()))
		require.Equal(t, int64(i), m.Annotations["x-opt-sequence-number"])
		offsets = append(offsets, m.Annotations["x-opt-offset"].(string))
		times = append(times, m.Annotations["x-opt-enqueued-time"].(time.Time))
	}
	require.NoError(t, r.Close(testCtx(t)))
	assert.Equal(t, "0", offsets[0], "the first event of a partition is at offset 0")
	for i := 1; i < len(offsets); i++ {
		prev, _ := strconv.ParseInt(offsets[i-1], 10, 64)
		cur, _ := strconv.ParseInt(offsets[i], 10, 64)
		require.Greater(t, cur, prev, "offsets grow")
		require.Equal(t, time.Second, times[i].Sub(times[i-1]))
	}

	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"no filter is earliest", "", bodies(0, 10)},
		{"earliest", "amqp.annotation.x-opt-offset > '-1'", bodies(0, 10)},
		{"offset >", "amqp.annotation.x-opt-offset > '" + offsets[3] + "'", bodies(4, 10)},
		{"offset >=", "amqp.annotation.x-opt-offset >= '" + offsets[3] + "'", bodies(3, 10)},
		{"sequence >", "amqp.annotation.x-opt-sequence-number > '5'", bodies(6, 10)},
		{"sequence >=", "amqp.annotation.x-opt-sequence-number >= '5'", bodies(5, 10)},
		{"sequence > -1", "amqp.annotation.x-opt-sequence-number > '-1'", bodies(0, 10)},
		{"enqueued time >", fmt.Sprintf("amqp.annotation.x-opt-enqueued-time > '%d'", times[7].UnixMilli()), bodies(8, 10)},
		{"enqueued time >=", fmt.Sprintf("amqp.annotation.x-opt-enqueued-time >= '%d'", times[7].UnixMilli()), bodies(7, 10)},
		{"legacy enqueuedtimeutc", fmt.Sprintf("amqp.annotation.x-opt-enqueuedtimeutc > %d", times[8].UnixMilli()), bodies(9, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.NewReceiver(testCtx(t), addr, receiverOpts(tt.filter, nil, 100))
			require.NoError(t, err)
			defer r.Close(testCtx(t))
			require.Equal(t, tt.want, receiveBodies(t, r, len(tt.want)))
		})
	}

	t.Run("latest gets only new events", func(t *testing.T) {
		r, err := s.NewReceiver(testCtx(t), addr, receiverOpts("amqp.annotation.x-opt-offset > '@latest'", nil, 100))
		require.NoError(t, err)
		defer r.Close(testCtx(t))
		_, seq, err := e.hub.Append(testCtx(t), Event{DeviceID: deviceFor(e.hub, pid), Body: []byte("new")})
		require.NoError(t, err)
		m, err := r.Receive(testCtx(t), nil)
		require.NoError(t, err)
		require.Equal(t, "new", string(m.GetData()))
		require.Equal(t, seq, m.Annotations["x-opt-sequence-number"])
	})
}

func TestReceiveRefusesBadStartPositions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.appendN(t, deviceFor(e.hub, "0"), 3)
	s := e.session(t)
	tests := []struct{ name, filter, cond string }{
		{"sequence beyond the end", "amqp.annotation.x-opt-sequence-number > '10'", CondArgumentOutOfRange},
		{"offset beyond the end", "amqp.annotation.x-opt-offset > '999999'", CondArgumentOutOfRange},
		{"malformed", "amqp.annotation.x-opt-offset < '5'", CondArgumentError},
		{"unknown annotation", "amqp.annotation.x-opt-foo > '5'", CondArgumentError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "0"), receiverOpts(tt.filter, nil, 10))
			requireRefused(t, err, tt.cond)
		})
	}
}

func TestReceiveAnnotationsAndProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	enqueued := e.clock.Now()
	pid, seq, err := e.hub.Append(testCtx(t), Event{
		DeviceID: "thermostat", ModuleID: "sensor",
		Body:       []byte(`{"t":21.5}`),
		Properties: map[string]any{"alert": "high", "level": int64(3)},
		MessageID:  "msg-1", CorrelationID: "corr-1", ContentType: "application/json", ContentEncoding: "utf-8",
		AuthGenerationID: "637000000000000000",
	})
	require.NoError(t, err)
	require.Equal(t, e.hub.PartitionFor("thermostat"), pid)
	require.Equal(t, int64(0), seq)

	r, err := e.session(t).NewReceiver(testCtx(t), partitionAddr("MYHUB", "$default", pid), receiverOpts("", nil, 10))
	require.NoError(t, err, "entity and consumer group match case-insensitively")
	m, err := r.Receive(testCtx(t), nil)
	require.NoError(t, err)
	require.NoError(t, r.AcceptMessage(testCtx(t), m))

	assert.Equal(t, []byte(`{"t":21.5}`), m.GetData())
	assert.Equal(t, "msg-1", m.Properties.MessageID)
	assert.Equal(t, "corr-1", m.Properties.CorrelationID)
	assert.Equal(t, "application/json", *m.Properties.ContentType)
	assert.Equal(t, "utf-8", *m.Properties.ContentEncoding)
	assert.Equal(t, map[string]any{"alert": "high", "level": int64(3)}, m.ApplicationProperties)
	for _, k := range []string{"x-opt-enqueued-time", "iothub-enqueuedtime"} {
		got, ok := m.Annotations[k].(time.Time)
		require.True(t, ok, "%s is a timestamp, got %T", k, m.Annotations[k])
		assert.True(t, enqueued.Equal(got), "%s: %v", k, got)
		delete(m.Annotations, k)
	}
	assert.Equal(t, amqp.Annotations{
		"x-opt-sequence-number":                int64(0),
		"x-opt-offset":                         "0",
		"iothub-connection-device-id":          "thermostat",
		"iothub-connection-module-id":          "sensor",
		"iothub-connection-auth-method":        DefaultAuthMethod,
		"iothub-connection-auth-generation-id": "637000000000000000",
		"iothub-message-source":                "Telemetry",
	}, m.Annotations)
}

func TestReceiveLivePushAcrossPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.session(t)
	ids := e.hub.PartitionIDs()
	receivers := make([]*amqp.Receiver, len(ids))
	for i, pid := range ids {
		r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", pid), receiverOpts("amqp.annotation.x-opt-offset > '@latest'", nil, 10))
		require.NoError(t, err)
		receivers[i] = r
	}
	// Events appended after the receivers wait reach them without polling.
	for round := range 3 {
		for i, pid := range ids {
			body := fmt.Sprintf("p%s-r%d", pid, round)
			_, _, err := e.hub.Append(testCtx(t), Event{DeviceID: deviceFor(e.hub, pid), Body: []byte(body)})
			require.NoError(t, err)
			m, err := receivers[i].Receive(testCtx(t), nil)
			require.NoError(t, err)
			require.Equal(t, body, string(m.GetData()))
		}
	}
}

func TestReceiveHonoursCredit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.appendN(t, deviceFor(e.hub, "2"), 5)
	r, err := e.session(t).NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", "2"), receiverOpts("", nil, -1))
	require.NoError(t, err)
	require.NoError(t, r.IssueCredit(2))
	require.Equal(t, bodies(0, 2), receiveBodies(t, r, 2))

	// Two credits, two messages: a third would need credit the client never gave.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = r.Receive(ctx, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, r.IssueCredit(3))
	require.Equal(t, bodies(2, 5), receiveBodies(t, r, 3))
}

func TestReceiveNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{ConsumerGroups: []string{"analytics"}})
	s := e.session(t)
	tests := []struct{ name, addr string }{
		{"unknown consumer group", partitionAddr("myhub", "nosuchgroup", "0")},
		{"unknown partition", partitionAddr("myhub", "$Default", "4")},
		{"non-numeric partition", partitionAddr("myhub", "$Default", "01")},
		{"unknown entity", partitionAddr("otherhub", "$Default", "0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.NewReceiver(testCtx(t), tt.addr, receiverOpts("", nil, 10))
			requireRefused(t, err, "amqp:not-found")
		})
	}
	t.Run("configured group", func(t *testing.T) {
		r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "Analytics", "3"), receiverOpts("", nil, 10))
		require.NoError(t, err)
		require.NoError(t, r.Close(testCtx(t)))
	})
}

func TestAppendAfterClose(t *testing.T) {
	t.Parallel()
	h := New(nil)
	require.NoError(t, h.Close())
	_, _, err := h.Append(context.Background(), Event{DeviceID: "d"})
	require.ErrorIs(t, err, ErrClosed)
}

func TestPartitionForIsStable(t *testing.T) {
	t.Parallel()
	h := New(&Options{Partitions: 8})
	defer h.Close()
	seen := map[string]bool{}
	for i := range 200 {
		id := fmt.Sprintf("dev-%d", i)
		p := h.PartitionFor(id)
		require.Equal(t, p, h.PartitionFor(id))
		seen[p] = true
	}
	require.Len(t, seen, 8, "200 devices spread over every partition")
	pid, _, err := h.Append(context.Background(), Event{DeviceID: "dev-7", ModuleID: "m"})
	require.NoError(t, err)
	require.Equal(t, h.PartitionFor("dev-7"), pid, "module events follow their device")
}

func TestConcurrentAppendAndReceive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	s := e.session(t)
	ids := e.hub.PartitionIDs()
	const devices, perDevice = 8, 250
	want := map[string]int{}
	for d := range devices {
		want[e.hub.PartitionFor(fmt.Sprintf("dev-%d", d))] += perDevice
	}
	receivers := map[string]*amqp.Receiver{}
	for _, pid := range ids {
		r, err := s.NewReceiver(testCtx(t), partitionAddr("myhub", "$Default", pid), receiverOpts("", nil, 50))
		require.NoError(t, err)
		receivers[pid] = r
	}
	errs := make(chan error, devices)
	for d := range devices {
		go func() {
			dev := fmt.Sprintf("dev-%d", d)
			for i := range perDevice {
				if _, _, err := e.hub.Append(context.Background(), Event{DeviceID: dev, Body: []byte(strconv.Itoa(i))}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range devices {
		require.NoError(t, <-errs)
	}
	for _, pid := range ids {
		next := map[string]int{}
		for seq := range want[pid] {
			m, err := receivers[pid].Receive(testCtx(t), nil)
			require.NoError(t, err)
			require.Equal(t, int64(seq), m.Annotations["x-opt-sequence-number"], "partition %s has no gaps", pid)
			dev := m.Annotations["iothub-connection-device-id"].(string)
			require.Equal(t, strconv.Itoa(next[dev]), string(m.GetData()), "%s's events keep their order", dev)
			next[dev]++
		}
	}
}
