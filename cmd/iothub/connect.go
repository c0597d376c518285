package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iotkit-go/iothub/auth"
)

// connectTimeout bounds the first contact of the commands that then wait
// for messages: an unreachable hub fails within it instead of being
// retried in silence.
const connectTimeout = 10 * time.Second

// connectWithin runs connect with connectTimeout and says, on failure, which
// host it could not reach.
func connectWithin(ctx context.Context, host string, connect func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	err := connect(cctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("could not reach %s within %s", host, connectTimeout)
	}
	return fmt.Errorf("could not connect to %s: %w", host, err)
}

// hostOf returns the host a connection string names, for messages.
func hostOf(connectionString string) string {
	cs, err := auth.ParseConnectionString(connectionString)
	if err != nil {
		return "the hub"
	}
	return cs.HostName
}
