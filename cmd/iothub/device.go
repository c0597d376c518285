package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/registry"
)

func (g *globals) registry() (*registry.Client, error) {
	cs, err := g.connString()
	if err != nil {
		return nil, err
	}
	return registry.NewClientFromConnectionString(cs, nil)
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

func importCommand(g *globals) *cobra.Command {
	var format string
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "import <file|->",
		Short: "Register many devices from JSON Lines or CSV, through the bulk API",
		Long: `Register devices listed in a file ("-" for standard input):
  JSON Lines: one device identity per line, e.g. {"deviceId":"d1","status":"enabled"}
  CSV: a header line with deviceId and optionally status and edge (true/false).
Devices go to the hub 100 per call; failures are listed at the end.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.registry()
			if err != nil {
				return err
			}
			in := g.env.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			if format == "" {
				format = "jsonl"
				if strings.HasSuffix(strings.ToLower(args[0]), ".csv") {
					format = "csv"
				}
			}
			var devices []*registry.Device
			switch format {
			case "jsonl", "json":
				devices, err = readJSONLines(in)
			case "csv":
				devices, err = readCSV(in)
			default:
				return fmt.Errorf("--format must be jsonl or csv, not %q", format)
			}
			if err != nil {
				return err
			}
			if len(devices) == 0 {
				return errors.New("the file lists no devices")
			}
			opts := &registry.BulkOptions{}
			if !noProgress {
				bar := progressbar.NewOptions(len(devices), progressbar.OptionSetWriter(g.env.stderr),
					progressbar.OptionSetDescription("importing"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
				opts.Progress = func(done, _ int) { _ = bar.Set(done) }
				defer bar.Close()
			}
			res, err := c.CreateDevices(cmd.Context(), devices, opts)
			if res == nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "imported %d of %d devices\n", res.Succeeded, len(devices))
			for _, f := range res.Failed {
				fmt.Fprintf(g.env.stdout, "failed %s: %v\n", f.DeviceID, f.Err)
			}
			if err != nil {
				return fmt.Errorf("%d devices failed", len(res.Failed))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "jsonl or csv (default: from the file name, else jsonl)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "do not draw a progress bar")
	return cmd
}

func readJSONLines(r io.Reader) ([]*registry.Device, error) {
	var out []*registry.Device
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		d := new(registry.Device)
		if err := json.Unmarshal([]byte(line), d); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		out = append(out, d)
	}
	return out, sc.Err()
}

func readCSV(r io.Reader) ([]*registry.Device, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("CSV header: %v", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	idCol, ok := col["deviceid"]
	if !ok {
		return nil, errors.New("the CSV header has no deviceId column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []*registry.Device
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("CSV line %d: %v", n, err)
		}
		if idCol >= len(rec) {
			return nil, fmt.Errorf("CSV line %d has no deviceId", n)
		}
		d := &registry.Device{DeviceID: strings.TrimSpace(rec[idCol]), Status: registry.Status(get(rec, "status"))}
		if strings.EqualFold(get(rec, "edge"), "true") {
			d.Capabilities = &registry.Capabilities{IoTEdge: true}
		}
		out = append(out, d)
	}
}
