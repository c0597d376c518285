package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/registry"
)

func statsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "stats", Short: "Show the registry's device counts and the connected devices", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			reg, err := c.Statistics(cmd.Context())
			if err != nil {
				return err
			}
			svc, err := c.ServiceStatistics(cmd.Context())
			if err != nil {
				return err
			}
			out := struct {
				*registry.Statistics
				*registry.ServiceStatistics
			}{reg, svc}
			return g.emit(out, func(w io.Writer) {
				row(w, "TOTAL", "ENABLED", "DISABLED", "CONNECTED")
				row(w, reg.TotalDeviceCount, reg.EnabledDeviceCount, reg.DisabledDeviceCount, svc.ConnectedDeviceCount)
			})
		},
	}
}
