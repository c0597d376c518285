package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/registry"
)

func moduleTable(w io.Writer, ms ...*registry.Module) {
	row(w, "DEVICE", "MODULE", "CONNECTION", "AUTH", "MANAGED BY")
	for _, m := range ms {
		managed := m.ManagedBy
		if managed == "" {
			managed = "-"
		}
		row(w, m.DeviceID, m.ModuleID, m.ConnectionState, authType(m.Authentication), managed)
	}
}

func moduleCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "module", Short: "Create, show, list and delete module identities"}
	create := &cobra.Command{
		Use: "create <device-id> <module-id>", Short: "Register a module on a device", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			m, err := c.CreateModule(cmd.Context(), &registry.Module{DeviceID: args[0], ModuleID: args[1]})
			if err != nil {
				return err
			}
			m = g.redactModule(m)
			return g.emit(m, func(w io.Writer) { moduleTable(w, m) })
		},
	}
	show := &cobra.Command{
		Use: "show <device-id> <module-id>", Short: "Show a module identity", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			m, err := c.GetModule(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			m = g.redactModule(m)
			return g.emit(m, func(w io.Writer) { moduleTable(w, m) })
		},
	}
	list := &cobra.Command{
		Use: "list <device-id>", Short: "List the modules of a device", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			ms, err := c.ListModules(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for i := range ms {
				ms[i] = g.redactModule(ms[i])
			}
			return g.emit(ms, func(w io.Writer) { moduleTable(w, ms...) })
		},
	}
	var etag string
	del := &cobra.Command{
		Use: "delete <device-id> <module-id>", Short: "Delete a module", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			if err := c.DeleteModule(cmd.Context(), args[0], args[1], etag); err != nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "deleted %s/%s\n", args[0], args[1])
			return nil
		},
	}
	del.Flags().StringVar(&etag, "etag", "", "delete only if the module's ETag still matches")
	cmd.AddCommand(create, show, list, del)
	return cmd
}
