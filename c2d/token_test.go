package c2d_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/auth"
	"github.com/iotkit-go/iothub/c2d"
	"github.com/iotkit-go/iothub/emulator"
)

// TestShortLivedTokens runs a sender and a feedback receiver for 30 s on
// tokens that live 5 s: renewal over CBS must keep both going without an
// error, over TLS with a client built from a credential.
func TestShortLivedTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 30 s")
	}
	t.Parallel()
	e, err := emulator.Start(context.Background(), &emulator.Options{TLS: true, Devices: []emulator.DeviceSeed{{DeviceID: "d1"}}})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	var key string
	for _, p := range e.Policies() {
		if p.Name == "service" {
			key = p.PrimaryKey
		}
	}
	cred, err := auth.NewSharedAccessKeyCredential("service", key, &auth.SharedAccessKeyCredentialOptions{TokenLifetime: 5 * time.Second})
	require.NoError(t, err)
	c, err := c2d.NewClient(e.HostName(), cred, &c2d.ClientOptions{ClientOptions: iothub.ClientOptions{TLSConfig: e.TLSConfig()}})
	require.NoError(t, err)
	defer c.Close(context.Background())

	dev, err := e.Device("d1")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, dev.Connect(ctx))
	defer dev.Disconnect()
	go func() {
		for {
			m, err := dev.ReceiveC2D(ctx)
			if err != nil {
				return
			}
			_ = m.Complete(ctx)
		}
	}()

	var records atomic.Int64
	feedbackDone := make(chan error, 1)
	go func() {
		feedbackDone <- c.ReceiveFeedback(ctx, func(context.Context, *c2d.FeedbackBatch) error {
			records.Add(1)
			return nil
		})
	}()
	sent := 0
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			// Each send has its own deadline, so the end of the 30 s window
			// never cuts one short.
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := c.Send(sctx, "d1", &c2d.Message{Body: []byte("ping"), Ack: c2d.AckPositive})
			scancel()
			require.NoError(t, err, "send %d", sent)
			sent++
		}
	}
	err = <-feedbackDone
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "the feedback receiver ran until the end: %v", err)
	assert.Greater(t, sent, 100)
	assert.Positive(t, records.Load())
}

// TestHubEndsGrantsEarly: the hub counts every token for 1 s only, so the
// client's links are detached with amqp:unauthorized-access long before its
// own tokens expire. Sender and feedback receiver must put fresh tokens and
// carry on.
func TestHubEndsGrantsEarly(t *testing.T) {
	t.Parallel()
	e, c := newHub(t, devices("d1"))
	e.LimitTokenLifetime(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	dev := connect(t, e, "d1")
	go func() {
		for {
			m, err := dev.ReceiveC2D(ctx)
			if err != nil {
				return
			}
			_ = m.Complete(ctx)
		}
	}()
	feedbackDone := make(chan error, 1)
	go func() {
		feedbackDone <- c.ReceiveFeedback(ctx, func(context.Context, *c2d.FeedbackBatch) error { return nil })
	}()
	var ok, failed int
	lastOK := false
	for ctx.Err() == nil {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Send(sctx, "d1", &c2d.Message{Ack: c2d.AckPositive})
		scancel()
		switch {
		case err == nil:
			ok++
			lastOK = true
		default:
			// Only a send in flight when its link was detached may fail,
			// and never as a hub refusal.
			assert.ErrorIs(t, err, c2d.ErrOutcomeUnknown)
			assert.NotErrorIs(t, err, iothub.ErrUnauthorized, "a detached link is recovered, not reported as a refusal: %v", err)
			failed++
			lastOK = false
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.True(t, lastOK || failed == 0, "sending works again after each detach")
	assert.Greater(t, ok, 5*failed, "%d sent, %d failed", ok, failed)
	err := <-feedbackDone
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the feedback receiver recovered from every detach")
}
