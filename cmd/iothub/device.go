package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/registry"
)

func (g *globals) registry() (*registry.Client, error) {
	cs, err := g.connString()
	if err != nil {
		return nil, err
	}
	opts, err := g.clientOptions()
	if err != nil {
		return nil, err
	}
	return registry.NewClientFromConnectionString(cs, opts)
}

func deviceCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Create, show, list, update, delete and import device identities"}
	var edge bool
	var status string
	create := &cobra.Command{
		Use: "create <device-id>", Short: "Register a device (SAS keys are generated)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			d := &registry.Device{DeviceID: args[0], Status: registry.Status(status)}
			if edge {
				d.Capabilities = &registry.Capabilities{IoTEdge: true}
			}
			out, err := c.CreateDevice(cmd.Context(), d)
			if err != nil {
				return err
			}
			out = g.redactDevice(out)
			return g.emit(out, func(w io.Writer) { deviceTable(w, g, out) })
		},
	}
	create.Flags().BoolVar(&edge, "edge", false, "register an IoT Edge device")
	create.Flags().StringVar(&status, "status", "enabled", "enabled or disabled")

	show := &cobra.Command{
		Use: "show <device-id>", Short: "Show a device identity", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			d, err := c.GetDevice(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			d = g.redactDevice(d)
			return g.emit(d, func(w io.Writer) { deviceTable(w, g, d) })
		},
	}

	var top int
	list := &cobra.Command{
		Use: "list", Short: "List device identities (up to 1000; use query for more)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			ds, err := c.ListDevices(cmd.Context(), top)
			if err != nil {
				return err
			}
			for i := range ds {
				ds[i] = g.redactDevice(ds[i])
			}
			return g.emit(ds, func(w io.Writer) { deviceTable(w, g, ds...) })
		},
	}
	list.Flags().IntVar(&top, "top", 0, "at most this many devices (1-1000; 0 for 1000)")

	var reason string
	update := &cobra.Command{
		Use: "update <device-id>", Short: "Change a device's status", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			d, err := c.GetDevice(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("status") {
				d.Status = registry.Status(status)
			}
			if cmd.Flags().Changed("reason") {
				d.StatusReason = reason
			}
			out, err := c.UpdateDevice(cmd.Context(), d) // If-Match: the ETag just read
			if err != nil {
				return err
			}
			out = g.redactDevice(out)
			return g.emit(out, func(w io.Writer) { deviceTable(w, g, out) })
		},
	}
	update.Flags().StringVar(&status, "status", "", "enabled or disabled")
	update.Flags().StringVar(&reason, "reason", "", "status reason")

	var etag string
	del := &cobra.Command{
		Use: "delete <device-id>", Short: "Delete a device and its modules", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			if err := c.DeleteDevice(cmd.Context(), args[0], etag); err != nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
	del.Flags().StringVar(&etag, "etag", "", "delete only if the device's ETag still matches")

	cmd.AddCommand(create, show, list, update, del, importCommand(g))
	return cmd
}
