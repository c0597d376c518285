package main

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/emulator"
)

func emulatorCommand(g *globals) *cobra.Command {
	var host, hostName, hubName, caFile, stateDir string
	var uploadStorage, uploadContainer string
	var policyKeys []string
	var port, partitions int
	var useTLS, standardPorts bool
	var groups []string
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run a local IoT Hub emulator until interrupted",
		Long: `Run a local IoT Hub: REST and AMQP on one port, with simulated-device support
for tests. It prints its connection strings; stop it with Ctrl-C.

With --tls it serves TLS with a certificate from a CA generated at start,
written to --ca-file, so clients in other languages can trust it.

With --standard-ports it serves the ports IoT Hub serves, all with TLS: HTTPS
(and AMQP over WebSockets) on 443, AMQPS on 5671 and MQTTS on 8883, and the
connection strings name --host-name without a port. That is what the official
SDKs of other languages and devices need, as they cannot be told a port.
Ports below 1024 need root, or the capability to bind them:

  sudo setcap cap_net_bind_service=+ep "$(command -v iothub)"
  # or, for every program of this machine:
  sudo sysctl net.ipv4.ip_unprivileged_port_start=443

Trust the CA in clients: NODE_EXTRA_CA_CERTS=ca.pem for Node.js,
SSL_CERT_FILE=ca.pem for Go and OpenSSL-based tools.

With --state-dir the hub keeps its state there and finds it again at the next
start: devices, modules and twins, the policies' keys (so connection strings
stay valid), consumer groups, C2D queues, pending feedback and file
notifications, telemetry within retention, and the CA (so clients keep
trusting it). --policy-key sets a policy's primary key instead.

With --file-upload-storage devices upload files into that storage account,
as with a hub linked to one: give its connection string with the account key
(the hub signs each upload's SAS token with it), for Azurite
UseDevelopmentStorage=true or
"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=...;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1".
Uploads go to --file-upload-container, created if needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (useTLS || standardPorts) && caFile == "" {
				return fmt.Errorf("--tls and --standard-ports need --ca-file, where the emulator writes its CA certificate")
			}
			if hostName != "" && !standardPorts {
				return fmt.Errorf("--host-name is for --standard-ports; on one port the host name is --host:--port")
			}
			policies, err := policiesWithKeys(policyKeys)
			if err != nil {
				return err
			}
			if uploadContainer != "" && uploadStorage == "" {
				return fmt.Errorf("--file-upload-container is for --file-upload-storage")
			}
			opts := &emulator.Options{
				Policies:       policies,
				StateDir:       stateDir,
				HubName:        hubName,
				TLS:            useTLS,
				StandardPorts:  standardPorts,
				HostName:       hostName,
				Partitions:     partitions,
				ConsumerGroups: groups,
			}
			if uploadStorage != "" {
				opts.FileUpload = &emulator.FileUploadOptions{StorageConnectionString: uploadStorage, Container: uploadContainer}
			}
			if standardPorts {
				if cmd.Flags().Changed("port") {
					return fmt.Errorf("--port is for one port; --standard-ports listens on 443, 5671 and 8883")
				}
				opts.Addr = host // empty: localhost (127.0.0.1 and ::1)
			} else {
				if host == "" {
					host = "127.0.0.1"
				}
				opts.Addr = net.JoinHostPort(host, strconv.Itoa(port))
			}
			e, err := emulator.Start(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer e.Close()
			if e.CACertPEM() != nil {
				if err := os.WriteFile(caFile, e.CACertPEM(), 0o644); err != nil {
					return err
				}
			}
			out := g.env.stdout
			var addrs []string
			for _, a := range e.ListenAddrs() {
				addrs = append(addrs, a.String())
			}
			fmt.Fprintf(out, "IoT Hub emulator %q listening on %s\n", e.HubName(), strings.Join(addrs, ", "))
			fmt.Fprintf(out, "host name: %s\n", e.HostName())
			if e.CACertPEM() != nil {
				fmt.Fprintf(out, "CA certificate: %s\n", caFile)
			}
			if stateDir != "" {
				fmt.Fprintf(out, "state directory: %s\n", stateDir)
			}
			if opts.FileUpload != nil {
				fmt.Fprintf(out, "file uploads: %s\n", e.FileUploadContainerURL())
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
	f.StringVar(&host, "host", "", "address to listen on (default 127.0.0.1; with --standard-ports localhost: 127.0.0.1 and ::1)")
	f.IntVar(&port, "port", 0, "port to listen on (0: any free port)")
	f.BoolVar(&standardPorts, "standard-ports", false, "serve 443 (HTTPS, WebSockets), 5671 (AMQPS) and 8883 (MQTTS) with TLS, as IoT Hub does")
	f.StringVar(&hostName, "host-name", "", "with --standard-ports, the host name of the connection strings and certificate (default localhost)")
	f.StringVar(&hubName, "hub-name", "emulator", "the hub's name (Event Hub entity name too)")
	f.BoolVar(&useTLS, "tls", false, "serve TLS with a generated certificate")
	f.StringVar(&caFile, "ca-file", "", "with --tls or --standard-ports, where to write the CA certificate (PEM)")
	f.IntVar(&partitions, "partitions", 4, "partitions of the built-in Event Hub-compatible endpoint")
	f.StringArrayVar(&groups, "consumer-group", nil, "an extra consumer group (repeatable; $Default always exists)")
	f.StringVar(&stateDir, "state-dir", "", "keep the hub's state in this directory across restarts (default: in memory)")
	f.StringVar(&uploadStorage, "file-upload-storage", "", "connection string of the storage account for devices' file uploads, with its AccountKey (UseDevelopmentStorage=true for Azurite)")
	f.StringVar(&uploadContainer, "file-upload-container", "", "with --file-upload-storage, the blob container of uploads (default fileupload)")
	f.StringArrayVar(&policyKeys, "policy-key", nil, "a policy's primary key, as name=base64 (repeatable; default: generated, or kept in --state-dir)")
	return cmd
}

// policiesWithKeys reads --policy-key values into the default policies;
// none leaves the policies to the emulator (generated or kept keys).
func policiesWithKeys(values []string) ([]emulator.Policy, error) {
	if len(values) == 0 {
		return nil, nil
	}
	policies := emulator.DefaultPolicies()
	for _, v := range values {
		name, key, ok := strings.Cut(v, "=")
		if !ok || name == "" || key == "" {
			return nil, fmt.Errorf("--policy-key takes name=base64key, as in iothubowner=<44 base64 characters>; got a value without '=' or with an empty side")
		}
		i := slices.IndexFunc(policies, func(p emulator.Policy) bool { return strings.EqualFold(p.Name, name) })
		if i < 0 {
			var names []string
			for _, p := range policies {
				names = append(names, p.Name)
			}
			return nil, fmt.Errorf("--policy-key: there is no policy %q; the policies are %s", name, strings.Join(names, ", "))
		}
		policies[i].PrimaryKey = key
	}
	return policies, nil
}
