package main

import (
	"bufio"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/internal/ids"
	"github.com/iotkit-go/iothub/registry"
)

// csvColumns are the columns `device import` reads from a CSV file, in the
// order the help lists them.
var csvColumns = []string{"deviceId", "status", "edge", "primaryKey", "secondaryKey"}

func importCommand(g *globals) *cobra.Command {
	var format string
	var noProgress, continueOnError, upsert bool
	cmd := &cobra.Command{
		Use:   "import <file|->",
		Short: "Register many devices from JSON Lines or CSV, through the bulk API",
		Long: `Register devices listed in a file ("-" for standard input).

  JSON Lines: one device identity per line, as the hub's REST API writes it:
    {"deviceId":"d1","status":"enabled"}
  CSV: a header line naming the columns, then one device per line:
    deviceId      required: the device id
    status        enabled (default) or disabled
    edge          true for an IoT Edge device (default false)
    primaryKey    base64 symmetric keys, both or neither (default: generated)
    secondaryKey

Every line is checked first, and every bad line is reported with its number.
Then nothing is imported (the default), or with --continue-on-error the good
lines are, and the devices the hub refused are listed at the end. Devices that
exist fail, unless --upsert updates them instead. Devices go to the hub 100
per call.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			var rows []importRow
			var err error
			switch format {
			case "jsonl", "json":
				rows, err = readJSONLines(in)
			case "csv":
				rows, err = readCSV(in)
			default:
				return fmt.Errorf("--format must be jsonl or csv, not %q", format)
			}
			if err != nil {
				return err
			}
			devices, bad := checkRows(rows)
			for _, b := range bad {
				fmt.Fprintf(g.env.stderr, "line %d: %s\n", b.line, b.problem)
			}
			switch {
			case len(bad) > 0 && !continueOnError:
				return fmt.Errorf("%d of %d lines are bad; nothing was imported (fix them, or import the good lines with --continue-on-error)", len(bad), len(rows))
			case len(devices) == 0 && len(bad) == 0:
				return errors.New("the file lists no devices")
			case len(devices) == 0:
				return fmt.Errorf("all %d lines are bad; nothing was imported", len(bad))
			}
			c, err := g.registry()
			if err != nil {
				return err
			}
			opts := &registry.BulkOptions{}
			if !noProgress {
				p := newProgress(g.env.stderr, len(devices), "importing")
				opts.Progress = func(done, _ int) { p.set(done) }
				defer p.finish()
			}
			write := c.CreateDevices
			if upsert {
				write = c.CreateOrUpdateDevices
			}
			res, err := write(cmd.Context(), devices, opts)
			if res == nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "imported %d of %d devices\n", res.Succeeded, len(devices))
			for _, f := range res.Failed {
				fmt.Fprintf(g.env.stdout, "failed %s: %v\n", f.DeviceID, f.Err)
			}
			if err != nil || len(bad) > 0 {
				return fmt.Errorf("%d devices failed, %d lines were bad", len(res.Failed), len(bad))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "jsonl or csv (default: from the file name, else jsonl)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "do not report progress")
	cmd.Flags().BoolVar(&continueOnError, "continue-on-error", false, "import the good lines even if some are bad")
	cmd.Flags().BoolVar(&upsert, "upsert", false, "update devices that exist instead of failing on them")
	return cmd
}

// importRow is one device of the file, or why its line is bad.
type importRow struct {
	line    int
	device  *registry.Device
	problem string
}

// badRow is a line that cannot be imported.
type badRow struct {
	line    int
	problem string
}

// checkRows checks every row (id, duplicates) and returns the devices of
// the good ones and every bad one.
func checkRows(rows []importRow) ([]*registry.Device, []badRow) {
	var devices []*registry.Device
	var bad []badRow
	first := map[string]int{}
	for _, r := range rows {
		if r.problem == "" {
			if err := ids.Device(r.device.DeviceID); err != nil {
				r.problem = strings.TrimPrefix(err.Error(), "iothub: 400004 ArgumentInvalid: ")
			} else if line, dup := first[r.device.DeviceID]; dup {
				r.problem = fmt.Sprintf("device %q is listed on line %d already", r.device.DeviceID, line)
			}
		}
		if r.problem != "" {
			bad = append(bad, badRow{r.line, r.problem})
			continue
		}
		first[r.device.DeviceID] = r.line
		devices = append(devices, r.device)
	}
	return devices, bad
}

func readJSONLines(r io.Reader) ([]importRow, error) {
	var out []importRow
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		d := new(registry.Device)
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(d); err != nil {
			out = append(out, importRow{line: n, problem: "not a device identity in JSON: " + jsonLineProblem(err)})
			continue
		}
		out = append(out, importRow{line: n, device: d})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the file: %w", err)
	}
	return out, nil
}

// jsonLineProblem describes a decoding error without echoing the line,
// which may hold keys.
func jsonLineProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at character %d", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed"
}

func readCSV(r io.Reader) ([]importRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("CSV header (line 1): %v", err)
	}
	col := map[string]int{}
	for i, h := range head {
		name := strings.TrimSpace(h)
		known := false
		for _, c := range csvColumns {
			if strings.EqualFold(name, c) {
				col[c], known = i, true
			}
		}
		if !known {
			return nil, fmt.Errorf("CSV header (line 1): unknown column %q; the columns are %s", name, strings.Join(csvColumns, ", "))
		}
	}
	if _, ok := col["deviceId"]; !ok {
		return nil, errors.New("CSV header (line 1): there is no deviceId column")
	}
	var out []importRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				out = append(out, importRow{line: pe.Line, problem: "not valid CSV: " + pe.Err.Error()})
				continue
			}
			return nil, fmt.Errorf("reading the file: %w", err)
		}
		out = append(out, csvRow(line, rec, col))
	}
}

// csvRow reads one CSV record into a device, or says what is wrong.
func csvRow(line int, rec []string, col map[string]int) importRow {
	get := func(name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	bad := func(format string, args ...any) importRow {
		return importRow{line: line, problem: fmt.Sprintf(format, args...)}
	}
	d := &registry.Device{DeviceID: get("deviceId")}
	if d.DeviceID == "" {
		return bad("deviceId is empty")
	}
	switch s := strings.ToLower(get("status")); s {
	case "", "enabled":
		d.Status = registry.StatusEnabled
	case "disabled":
		d.Status = registry.StatusDisabled
	default:
		return bad("status is %q; use enabled or disabled", get("status"))
	}
	switch e := strings.ToLower(get("edge")); e {
	case "", "false":
	case "true":
		d.Capabilities = &registry.Capabilities{IoTEdge: true}
	default:
		return bad("edge is %q; use true or false", get("edge"))
	}
	primary, secondary := get("primaryKey"), get("secondaryKey")
	if (primary == "") != (secondary == "") {
		return bad("give both primaryKey and secondaryKey, or neither")
	}
	if primary != "" {
		for name, k := range map[string]string{"primaryKey": primary, "secondaryKey": secondary} {
			if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) < 16 || len(b) > 64 {
				return bad("%s is not the base64 of 16 to 64 bytes", name) // never the key itself
			}
		}
		d.Authentication = &registry.Authentication{Type: registry.AuthSAS, SymmetricKey: &registry.SymmetricKey{PrimaryKey: primary, SecondaryKey: secondary}}
	}
	return importRow{line: line, device: d}
}
