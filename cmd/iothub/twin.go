package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/iotkit-go/iothub/twin"
)

func (g *globals) twins() (*twin.Client, error) {
	cs, err := g.connString()
	if err != nil {
		return nil, err
	}
	opts, err := g.clientOptions()
	if err != nil {
		return nil, err
	}
	return twin.NewClientFromConnectionString(cs, opts)
}

// printTwin prints a twin as JSON: a twin is a document, not a table row.
func (g *globals) printTwin(t *twin.Twin) error {
	enc := json.NewEncoder(g.env.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(t)
}

func parseObject(flag, s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, fmt.Errorf("--%s must be a JSON object: %v", flag, err)
	}
	return m, nil
}

func twinCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "twin", Short: "Show, update (merge) and replace device and module twins"}
	var module string
	show := &cobra.Command{
		Use: "show <device-id>", Short: "Show a twin", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.twins()
			if err != nil {
				return err
			}
			var t *twin.Twin
			if module != "" {
				t, err = c.GetModule(cmd.Context(), args[0], module)
			} else {
				t, err = c.Get(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			return g.printTwin(t)
		},
	}
	show.Flags().StringVar(&module, "module", "", "the module's twin instead of the device's")

	var tags, desired, etag string
	update := &cobra.Command{
		Use:   "update <device-id>",
		Short: "Merge tags and desired properties into a twin (null deletes a key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.twins()
			if err != nil {
				return err
			}
			p := &twin.Patch{ETag: etag}
			if p.Tags, err = parseObject("tags", tags); err != nil {
				return err
			}
			if p.Desired, err = parseObject("desired", desired); err != nil {
				return err
			}
			var t *twin.Twin
			if module != "" {
				t, err = c.UpdateModule(cmd.Context(), args[0], module, p)
			} else {
				t, err = c.Update(cmd.Context(), args[0], p)
			}
			if err != nil {
				return err
			}
			return g.printTwin(t)
		},
	}
	update.Flags().StringVar(&module, "module", "", "update the module's twin")
	update.Flags().StringVar(&tags, "tags", "", `tags to merge, as JSON: '{"building":"43"}'`)
	update.Flags().StringVar(&desired, "desired", "", `desired properties to merge, as JSON: '{"fan":"on"}'`)
	update.Flags().StringVar(&etag, "etag", "", "apply only if the twin's ETag still matches")

	var file string
	replace := &cobra.Command{
		Use:   "replace <device-id> --file <twin.json|->",
		Short: "Replace a twin's tags and desired properties with those of a JSON twin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.twins()
			if err != nil {
				return err
			}
			in := g.env.stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			raw, err := io.ReadAll(in)
			if err != nil {
				return err
			}
			var t twin.Twin
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("the twin is not valid JSON: %v", err)
			}
			if etag != "" {
				t.ETag = etag
			}
			if t.ETag == "" {
				t.ETag = "*"
			}
			var out *twin.Twin
			if module != "" {
				out, err = c.ReplaceModule(cmd.Context(), args[0], module, &t)
			} else {
				out, err = c.Replace(cmd.Context(), args[0], &t)
			}
			if err != nil {
				return err
			}
			return g.printTwin(out)
		},
	}
	replace.Flags().StringVar(&module, "module", "", "replace the module's twin")
	replace.Flags().StringVar(&file, "file", "-", "the twin as JSON (- for standard input)")
	replace.Flags().StringVar(&etag, "etag", "", "replace only if the twin's ETag still matches (default: the file's etag, else unconditionally)")
	cmd.AddCommand(show, update, replace)
	return cmd
}
