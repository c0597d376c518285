package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iotkit-go/iothub/registry"
)

// emit prints v as indented JSON with --output json, or through table.
func (g *globals) emit(v any, table func(w io.Writer)) error {
	if g.output == "json" {
		enc := json.NewEncoder(g.env.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(g.env.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// emitLine prints v as one line of JSON (JSON Lines).
func (g *globals) emitLine(v any) error {
	enc := json.NewEncoder(g.env.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(w, strings.Join(s, "\t"))
}

func when(t time.Time) string {
	if t.IsZero() || t.Year() <= 1 {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// redactAuth hides the keys of a unless --show-keys.
func (g *globals) redactAuth(a *registry.Authentication) *registry.Authentication {
	if g.showKeys || a == nil || a.SymmetricKey == nil {
		return a
	}
	c := *a
	c.SymmetricKey = &registry.SymmetricKey{PrimaryKey: "<hidden: --show-keys>", SecondaryKey: "<hidden: --show-keys>"}
	return &c
}

// redactDevice hides the keys of d unless --show-keys.
func (g *globals) redactDevice(d *registry.Device) *registry.Device {
	c := *d
	c.Authentication = g.redactAuth(d.Authentication)
	return &c
}

// redactModule hides the keys of m unless --show-keys.
func (g *globals) redactModule(m *registry.Module) *registry.Module {
	c := *m
	c.Authentication = g.redactAuth(m.Authentication)
	return &c
}

func authType(a *registry.Authentication) string {
	if a == nil {
		return "-"
	}
	return string(a.Type)
}

func deviceTable(w io.Writer, g *globals, ds ...*registry.Device) {
	if g.showKeys {
		row(w, "DEVICE", "STATUS", "CONNECTION", "AUTH", "C2D", "LAST ACTIVITY", "PRIMARY KEY")
	} else {
		row(w, "DEVICE", "STATUS", "CONNECTION", "AUTH", "C2D", "LAST ACTIVITY")
	}
	for _, d := range ds {
		cells := []any{d.DeviceID, d.Status, d.ConnectionState, authType(d.Authentication), d.CloudToDeviceMessageCount, when(d.LastActivityTime)}
		if g.showKeys {
			key := "-"
			if d.Authentication != nil && d.Authentication.SymmetricKey != nil {
				key = d.Authentication.SymmetricKey.PrimaryKey
			}
			cells = append(cells, key)
		}
		row(w, cells...)
	}
}
