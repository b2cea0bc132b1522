package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli"

	"github.com/berth-oci/berth/seccomp"
	"github.com/berth-oci/berth/spec"
)

var specCommand = cli.Command{
	Name:  "spec",
	Usage: "create a new specification file",
	Description: `The spec command creates the new specification file named "config.json" for
the bundle: an interactive "sh" in a rootfs directory named "rootfs".`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "bundle, b", Usage: "path to the root of the bundle directory"},
		cli.BoolFlag{Name: "rootless", Usage: "generate a configuration for a rootless container"},
		cli.StringFlag{Name: "seccomp", Value: "default", Usage: "seccomp profile: 'default' (berth's), 'unconfined' (none), or a Docker-format JSON profile file"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 0, exactArgs); err != nil {
			return err
		}
		s := spec.Default()
		if c.Bool("rootless") {
			spec.Rootless(s)
		}
		switch profile := c.String("seccomp"); profile {
		case "default":
		case "unconfined":
			s.Linux.Seccomp = nil
		default:
			data, err := os.ReadFile(profile)
			if err != nil {
				return fmt.Errorf("--seccomp: %w", err)
			}
			if s.Linux.Seccomp, err = seccomp.LoadDockerProfile(data, s.Process.Capabilities.Bounding); err != nil {
				return fmt.Errorf("--seccomp %s: %w", profile, err)
			}
		}
		dir := c.String("bundle")
		path := filepath.Join(dir, spec.ConfigName)
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("file %s exists: remove it first", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		data, err := json.MarshalIndent(s, "", "\t")
		if err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o666)
	},
}
