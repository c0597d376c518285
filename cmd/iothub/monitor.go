package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/eventhub"
	"github.com/iotkit-go/iothub/eventhub/checkpoints"
)

// eventLine is how monitor prints an event.
type eventLine struct {
	DeviceID       string         `json:"deviceId"`
	ModuleID       string         `json:"moduleId,omitempty"`
	Partition      string         `json:"partition"`
	SequenceNumber int64          `json:"sequenceNumber"`
	Offset         string         `json:"offset"`
	EnqueuedTime   time.Time      `json:"enqueuedTime"`
	MessageID      string         `json:"messageId,omitempty"`
	ContentType    string         `json:"contentType,omitempty"`
	Properties     map[string]any `json:"properties,omitempty"`
	// Lag is how many events the partition held after this one (--lag).
	Lag  *int64          `json:"lag,omitempty"`
	Body json.RawMessage `json:"body"`
}

func toLine(ev *eventhub.Event) eventLine {
	l := eventLine{DeviceID: ev.DeviceID, ModuleID: ev.ModuleID, Partition: ev.PartitionID, SequenceNumber: ev.SequenceNumber,
		Offset: ev.Offset, EnqueuedTime: ev.EnqueuedTime, MessageID: ev.MessageID, ContentType: ev.ContentType, Properties: ev.Properties}
	if json.Valid(ev.Body) && len(ev.Body) > 0 {
		l.Body = ev.Body
	} else {
		l.Body, _ = json.Marshal(string(ev.Body))
	}
	return l
}

// parseFrom reads --from: earliest, latest or an RFC 3339 time.
func parseFrom(s string) (eventhub.StartPosition, error) {
	switch strings.ToLower(s) {
	case "earliest", "":
		return eventhub.StartPosition{Earliest: true}, nil
	case "latest":
		return eventhub.StartPosition{Latest: true}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return eventhub.StartPosition{}, fmt.Errorf("--from must be earliest, latest or an RFC 3339 time such as 2026-01-02T15:04:05Z, not %q", s)
	}
	return eventhub.StartPosition{EnqueuedTime: &t, Inclusive: true}, nil
}

func monitorCommand(g *globals) *cobra.Command {
	var group, from, dir string
	var count int
	var lag bool
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Print device telemetry as JSON Lines, from every partition",
		Long: `Read device-to-cloud messages from the hub's built-in endpoint and print one JSON
object a line. With --checkpoint-dir it records its progress there and a later run
resumes where it stopped (several monitors sharing the directory share the partitions).
With --lag each line also says how many events its partition held after it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := g.connString()
			if err != nil {
				return err
			}
			start, err := parseFrom(from)
			if err != nil {
				return err
			}
			tc, err := g.tlsConfig()
			if err != nil {
				return err
			}
			consumer, err := eventhub.NewConsumerFromConnectionString(cs, &eventhub.ConsumerOptions{ConsumerGroup: group, TLSConfig: tc})
			if err != nil {
				return err
			}
			defer consumer.Close(context.Background())
			var props *eventhub.HubProperties
			host := hostOf(cs)
			if err := connectWithin(cmd.Context(), host, func(ctx context.Context) (err error) {
				props, err = consumer.Properties(ctx)
				return err
			}); err != nil {
				return err
			}
			fmt.Fprintf(g.env.stderr, "connected to %s (%d partitions, consumer group %s); waiting for events (Ctrl-C to stop)\n", host, len(props.PartitionIDs), consumer.ConsumerGroup())
			var store eventhub.CheckpointStore = checkpoints.NewMemoryStore()
			if dir != "" {
				if store, err = checkpoints.NewFileStore(dir); err != nil {
					return err
				}
			}
			proc, err := eventhub.NewProcessor(consumer, store, &eventhub.ProcessorOptions{
				StartPositions:    eventhub.StartPositions{Default: start},
				UpdateInterval:    2 * time.Second,
				TrackLastEnqueued: lag,
			})
			if err != nil {
				return err
			}
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			var mu sync.Mutex
			printed := 0
			err = proc.Run(ctx, eventhub.HandlerFunc(func(ctx context.Context, pc *eventhub.PartitionContext, events []*eventhub.Event) error {
				mu.Lock()
				var last *eventhub.Event // the last event printed: what may be checkpointed
				le, known := pc.LastEnqueued()
				for _, ev := range events {
					if count > 0 && printed >= count {
						break
					}
					line := toLine(ev)
					if known {
						n := le.Lag(ev)
						line.Lag = &n
					}
					if err := g.emitLine(line); err != nil {
						mu.Unlock()
						return err
					}
					printed++
					last = ev
				}
				done := count > 0 && printed >= count
				mu.Unlock()
				if dir != "" && last != nil {
					if err := pc.Checkpoint(ctx, last); err != nil && !errors.Is(err, eventhub.ErrOwnershipLost) {
						return err
					}
				}
				if done {
					stop()
				}
				return nil
			}))
			if errors.Is(err, context.Canceled) || err == nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&group, "consumer-group", eventhub.DefaultConsumerGroup, "consumer group to read with")
	cmd.Flags().StringVar(&from, "from", "earliest", "where to start without a checkpoint: earliest, latest or an RFC 3339 time")
	cmd.Flags().StringVar(&dir, "checkpoint-dir", "", "record progress in this directory and resume from it")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: run until interrupted)")
	cmd.Flags().BoolVar(&lag, "lag", false, "add to each event how many events its partition held after it")
	return cmd
}
