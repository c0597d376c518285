package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/twin"
)

func queryCommand(g *globals) *cobra.Command {
	var pageSize int
	cmd := &cobra.Command{
		Use:   `query "<sql>"`,
		Short: "Run an IoT Hub query and stream every row as JSON Lines",
		Example: `  iothub query "SELECT * FROM devices WHERE tags.building = '43'"
  iothub query "SELECT properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.fw"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.twins()
			if err != nil {
				return err
			}
			// Rows are printed as they arrive, one page in memory at a time.
			for row, err := range c.QueryRaw(cmd.Context(), args[0], &twin.QueryOptions{PageSize: pageSize}) {
				if err != nil {
					return err
				}
				if err := writeLine(g.env.stdout, row); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&pageSize, "page-size", 0, "rows per request (1-1000; default 100)")
	return cmd
}

func writeLine(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err := w.Write([]byte{'\n'})
	return err
}
