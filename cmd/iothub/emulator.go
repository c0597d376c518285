package main

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/emulator"
)

func emulatorCommand(g *globals) *cobra.Command {
	var host, hubName, caFile string
	var port, partitions int
	var useTLS bool
	var groups []string
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run a local IoT Hub emulator until interrupted",
		Long: `Run a local IoT Hub: REST and AMQP on one port, with simulated-device support
for tests. It prints its connection strings; stop it with Ctrl-C.

With --tls it serves TLS with a certificate from a CA generated at start,
written to --ca-file, so clients in other languages can trust it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if useTLS && caFile == "" {
				return fmt.Errorf("--tls needs --ca-file, where the emulator writes its CA certificate")
			}
			e, err := emulator.Start(cmd.Context(), &emulator.Options{
				HubName:        hubName,
				Addr:           net.JoinHostPort(host, strconv.Itoa(port)),
				TLS:            useTLS,
				Partitions:     partitions,
				ConsumerGroups: groups,
			})
			if err != nil {
				return err
			}
			defer e.Close()
			if useTLS {
				if err := os.WriteFile(caFile, e.CACertPEM(), 0o644); err != nil {
					return err
				}
			}
			out := g.env.stdout
			fmt.Fprintf(out, "IoT Hub emulator %q listening on %s\n", e.HubName(), e.HostName())
			if useTLS {
				fmt.Fprintf(out, "CA certificate: %s\n", caFile)
			}
			for _, p := range []string{"iothubowner", "service", "registryReadWrite"} {
				cs, err := e.PolicyConnectionString(p)
				if err == nil {
					fmt.Fprintf(out, "%-18s %s\n", p+":", cs)
				}
			}
			fmt.Fprintf(out, "%-18s %s\n", "event hub:", e.EventHubConnectionString())
			fmt.Fprintf(out, "\nexport IOTHUB_CONNECTION_STRING='%s'\n", e.ConnectionString())
			fmt.Fprintln(out, "Press Ctrl-C to stop.")
			<-cmd.Context().Done()
			fmt.Fprintln(out, "stopping")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&host, "host", "127.0.0.1", "address to listen on")
	f.IntVar(&port, "port", 0, "port to listen on (0: any free port)")
	f.StringVar(&hubName, "hub-name", "emulator", "the hub's name (Event Hub entity name too)")
	f.BoolVar(&useTLS, "tls", false, "serve TLS with a generated certificate")
	f.StringVar(&caFile, "ca-file", "", "with --tls, where to write the CA certificate (PEM)")
	f.IntVar(&partitions, "partitions", 4, "partitions of the built-in Event Hub-compatible endpoint")
	f.StringArrayVar(&groups, "consumer-group", nil, "an extra consumer group (repeatable; $Default always exists)")
	return cmd
}
