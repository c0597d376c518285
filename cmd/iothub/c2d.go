package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/c2d"
)

func (g *globals) c2d() (*c2d.Client, error) {
	cs, err := g.connString()
	if err != nil {
		return nil, err
	}
	opts, err := g.clientOptions()
	if err != nil {
		return nil, err
	}
	return c2d.NewClientFromConnectionString(cs, &c2d.ClientOptions{ClientOptions: *opts})
}

func c2dCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "c2d", Short: "Send cloud-to-device messages and follow their feedback"}

	var module, ack, messageID, contentType string
	var props []string
	var ttl time.Duration
	send := &cobra.Command{
		Use:     "send <device-id> <body>",
		Short:   "Send a cloud-to-device message",
		Example: `  iothub c2d send lamp-1 '{"on":true}' --ack full --prop priority=high`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.c2d()
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			msg := &c2d.Message{Body: []byte(args[1]), Ack: c2d.AckType(ack), MessageID: messageID, ContentType: contentType}
			if ttl > 0 {
				msg.ExpiryTime = time.Now().Add(ttl)
			}
			for _, p := range props {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return fmt.Errorf("--prop %q is not name=value", p)
				}
				if msg.Properties == nil {
					msg.Properties = map[string]string{}
				}
				msg.Properties[k] = v
			}
			if module != "" {
				err = c.SendToModule(cmd.Context(), args[0], module, msg)
			} else {
				err = c.Send(cmd.Context(), args[0], msg)
			}
			if err != nil {
				return err
			}
			out := struct {
				MessageID string `json:"messageId"`
			}{msg.MessageID}
			return g.emit(out, func(w io.Writer) { fmt.Fprintf(w, "sent %s\n", msg.MessageID) })
		},
	}
	send.Flags().StringVar(&module, "module", "", "send to this module of the device")
	send.Flags().StringVar(&ack, "ack", "none", "feedback wanted: none, positive, negative or full")
	send.Flags().StringVar(&messageID, "message-id", "", "the message id (default: a new UUID)")
	send.Flags().StringVar(&contentType, "content-type", "", "the body's content type")
	send.Flags().StringArrayVar(&props, "prop", nil, "an application property name=value (repeatable)")
	send.Flags().DurationVar(&ttl, "ttl", 0, "time to live (default: the hub's)")

	var count int
	feedback := &cobra.Command{
		Use:   "feedback",
		Short: "Print delivery feedback records as they arrive (until Ctrl-C, or --count records)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.c2d()
			if err != nil {
				return err
			}
			defer c.Close(context.Background())
			if err := connectWithin(cmd.Context(), c.HostName(), c.Connect); err != nil {
				return err
			}
			fmt.Fprintf(g.env.stderr, "connected to %s; waiting for feedback (Ctrl-C to stop)\n", c.HostName())
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			seen := 0
			if g.output == "table" {
				row(g.env.stdout, "MESSAGE", "DEVICE", "STATUS", "ENQUEUED")
			}
			err = c.ReceiveFeedback(ctx, func(_ context.Context, b *c2d.FeedbackBatch) error {
				for _, r := range b.Records {
					if g.output == "json" {
						if err := g.emitLine(r); err != nil {
							return err
						}
					} else {
						row(g.env.stdout, r.OriginalMessageID, r.DeviceID, r.StatusCode, when(r.EnqueuedTime))
					}
					seen++
				}
				if count > 0 && seen >= count {
					stop()
				}
				return nil
			})
			if errors.Is(err, context.Canceled) && (cmd.Context().Err() != nil || count > 0 && seen >= count) {
				return nil
			}
			return err
		},
	}
	feedback.Flags().IntVar(&count, "count", 0, "exit after this many records (0: run until interrupted)")
	cmd.AddCommand(send, feedback)
	return cmd
}
