package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli"
)

var listCommand = cli.Command{
	Name:  "list",
	Usage: "lists containers started by berth with the given root",
	ArgsUsage: `

Where the given root is specified via the global option "--root"
(default: "/run/berth").`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "format, f", Value: "table", Usage: "select one of: table or json"},
		cli.BoolFlag{Name: "quiet, q", Usage: "display only container IDs"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0, exactArgs); err != nil {
			return err
		}
		format := c.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("--format: %q is not a format (use table or json)", format)
		}
		rt, err := newRuntime(c)
		if err != nil {
			return err
		}
		// As runc: only the default root may be missing (no container
		// created yet); a --root given explicitly must exist.
		if c.GlobalIsSet("root") {
			if _, err := os.Stat(rt.Root()); err != nil {
				return fmt.Errorf("--root: %w", err)
			}
		}
		states, err := rt.List()
		if err != nil {
			return err
		}
		if c.Bool("quiet") {
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		}
		if format == "json" {
			return json.NewEncoder(os.Stdout).Encode(states)
		}
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, s := range states {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n",
				s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
		}
		return w.Flush()
	},
}
