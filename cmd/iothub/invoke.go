package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub"
	"github.com/iotkit-go/iothub/methods"
)

func invokeCommand(g *globals) *cobra.Command {
	var module, payload string
	var timeout, connectTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "invoke <device-id> <method>",
		Short: "Invoke a direct method and print the device's answer",
		Example: `  iothub invoke fan-1 setSpeed --payload '{"speed":3}' --timeout 10s
  iothub invoke gateway restart --module edgeAgent --connect-timeout 30s`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := g.connString()
			if err != nil {
				return err
			}
			opts, err := g.clientOptions()
			if err != nil {
				return err
			}
			c, err := methods.NewClientFromConnectionString(cs, opts)
			if err != nil {
				return err
			}
			req := &methods.Request{MethodName: args[1], ResponseTimeout: timeout, ConnectTimeout: connectTimeout}
			if payload != "" {
				if !json.Valid([]byte(payload)) {
					return fmt.Errorf("--payload must be JSON, e.g. '{\"speed\":3}' or '\"text\"'")
				}
				req.Payload = json.RawMessage(payload)
			}
			var resp *methods.Response
			if module != "" {
				resp, err = c.InvokeModule(cmd.Context(), args[0], module, req)
			} else {
				resp, err = c.Invoke(cmd.Context(), args[0], req)
			}
			if errors.Is(err, iothub.ErrDeviceNotOnline) {
				if connectTimeout == 0 {
					return fmt.Errorf("device %s is not connected; use --connect-timeout to wait for it (%w)", target(args[0], module), err)
				}
				return fmt.Errorf("device %s did not connect within --connect-timeout %s (%w)", target(args[0], module), connectTimeout, err)
			}
			if err != nil {
				return err
			}
			return g.emit(resp, func(w io.Writer) {
				fmt.Fprintf(w, "status: %d\npayload: %s\n", resp.Status, resp.Payload)
			})
		},
	}
	cmd.Flags().StringVar(&module, "module", "", "invoke on this module of the device")
	cmd.Flags().StringVar(&payload, "payload", "", "the method's payload, as JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the device's answer (5s-300s)")
	cmd.Flags().DurationVar(&connectTimeout, "connect-timeout", 0, "how long to wait for an offline device to connect (0-300s)")
	return cmd
}

// target names a device, or a module of one, for messages.
func target(deviceID, moduleID string) string {
	if moduleID == "" {
		return fmt.Sprintf("%q", deviceID)
	}
	return fmt.Sprintf("%q (module %q)", deviceID, moduleID)
}
