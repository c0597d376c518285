package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub"
)

// env is what a run of the command sees of the world, so tests can run it
// in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// globals are the flags every command shares.
type globals struct {
	env              *env
	connectionString string
	output           string
	showKeys         bool
	caFile           string
}

// tlsConfig trusts --ca-file (or $IOTHUB_CA_FILE) besides the system's
// roots: the CA of an emulator run with --tls or --standard-ports. Nil
// when neither is set.
func (g *globals) tlsConfig() (*tls.Config, error) {
	path := g.caFile
	if path == "" {
		path = g.env.getenv("IOTHUB_CA_FILE")
	}
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// clientOptions are the options of every client the commands make.
func (g *globals) clientOptions() (*iothub.ClientOptions, error) {
	tc, err := g.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &iothub.ClientOptions{TLSConfig: tc}, nil
}

// connString returns the connection string from the flag or the
// environment.
func (g *globals) connString() (string, error) {
	if g.connectionString != "" {
		return g.connectionString, nil
	}
	if cs := g.env.getenv("IOTHUB_CONNECTION_STRING"); cs != "" {
		return cs, nil
	}
	return "", errors.New("no connection string: pass --connection-string or set IOTHUB_CONNECTION_STRING (try `iothub emulator` for a local hub)")
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, e *env) int {
	g := &globals{env: e}
	root := &cobra.Command{
		Use:           "iothub",
		Short:         "Manage an Azure IoT hub, or run a local emulator of one",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", g.output)
			}
			return nil
		},
	}
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.connectionString, "connection-string", "", "service connection string (default $IOTHUB_CONNECTION_STRING)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.BoolVar(&g.showKeys, "show-keys", false, "print device and module keys")
	pf.StringVar(&g.caFile, "ca-file", "", "trust this CA (PEM), such as the emulator's with --tls or --standard-ports (default $IOTHUB_CA_FILE)")
	root.AddCommand(
		emulatorCommand(g),
		deviceCommand(g),
		moduleCommand(g),
		twinCommand(g),
		queryCommand(g),
		invokeCommand(g),
		c2dCommand(g),
		monitorCommand(g),
		statsCommand(g),
		simulateCommand(g),
	)
	if err := root.ExecuteContext(ctx); err != nil {
		printError(e.stderr, err)
		return 1
	}
	return 0
}

// printError prints err; the hub's errors carry their code and name
// ("iothub: 404001 DeviceNotFound (status 404): …").
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "error: %s\n", err)
}
