package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/twin"
)

func queryCommand(g *globals) *cobra.Command {
	var pageSize int
	cmd := &cobra.Command{
		Use:   `query "<sql>"`,
		Short: "Run an IoT Hub query and print every row",
		Long: `Run an IoT Hub query and print every row of every page.

As a table (the default): for SELECT * the twins' deviceId (and moduleId),
status, connectionState and tags; for a projection or an aggregate, a column
per field selected. The table is printed once every row is in. With -o json,
rows stream as JSON Lines as the pages arrive.`,
		Example: `  iothub query "SELECT * FROM devices WHERE tags.building = '43'"
  iothub query "SELECT properties.reported.fw AS fw, COUNT() AS n FROM devices GROUP BY properties.reported.fw"
  iothub -o json query "SELECT * FROM devices.modules" | jq .moduleId`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.twins()
			if err != nil {
				return err
			}
			var table queryTable
			for raw, err := range c.QueryRaw(cmd.Context(), args[0], &twin.QueryOptions{PageSize: pageSize}) {
				if err != nil {
					return err
				}
				if g.output == "json" {
					// Rows are printed as they arrive, one page in memory at a time.
					if err := writeLine(g.env.stdout, raw); err != nil {
						return err
					}
					continue
				}
				if err := table.add(raw); err != nil {
					return err
				}
			}
			if g.output == "json" {
				return nil
			}
			return g.emit(nil, table.write)
		},
	}
	cmd.Flags().IntVar(&pageSize, "page-size", 0, "rows per request (1-1000; default 100)")
	return cmd
}

// queryTable gathers query rows for a table: twins get fixed columns,
// projections a column per field in the order the fields first appear.
type queryTable struct {
	twins   bool
	modules bool
	columns []string
	rows    []map[string]json.RawMessage
}

var twinColumns = []string{"deviceId", "status", "connectionState", "tags"}

func (q *queryTable) add(raw []byte) error {
	keys, row, err := orderedObject(raw)
	if err != nil {
		return fmt.Errorf("a query row is not a JSON object: %w", err)
	}
	if len(q.rows) == 0 {
		_, hasProps := row["properties"]
		_, hasID := row["deviceId"]
		q.twins = hasProps && hasID
	}
	if _, ok := row["moduleId"]; ok && q.twins {
		q.modules = true
	}
	for _, k := range keys {
		if !q.twins && !containsString(q.columns, k) {
			q.columns = append(q.columns, k)
		}
	}
	q.rows = append(q.rows, row)
	return nil
}

func (q *queryTable) write(w io.Writer) {
	cols := q.columns
	if q.twins {
		cols = twinColumns
		if q.modules {
			cols = append([]string{"deviceId", "moduleId"}, twinColumns[1:]...)
		}
	}
	head := make([]any, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c)
	}
	row(w, head...)
	for _, r := range q.rows {
		cells := make([]any, len(cols))
		for i, c := range cols {
			cells[i] = cell(r[c])
		}
		row(w, cells...)
	}
}

// cell shows a JSON value in a table: strings bare, the rest as compact
// JSON, "-" for a missing or null one.
func cell(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return "-"
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.String()
	}
	return string(v)
}

// orderedObject decodes a JSON object, keeping the order of its keys.
func orderedObject(raw []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, fmt.Errorf("want an object")
	}
	var keys []string
	m := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := m[k]; !dup {
			keys = append(keys, k)
		}
		m[k] = v
	}
	return keys, m, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func writeLine(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err := w.Write([]byte{'\n'})
	return err
}
