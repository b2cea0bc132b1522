package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli"

	berth "github.com/berth-oci/berth/runtime"
)

type argCheck int

const (
	exactArgs argCheck = iota
	minArgs
	maxArgs
)

// checkArgs checks the number of positional arguments as runc does.
func checkArgs(c *cli.Context, expected int, check argCheck) error {
	var err error
	cmd := c.Command.Name
	switch check {
	case exactArgs:
		if c.NArg() != expected {
			err = fmt.Errorf("%s: %q requires exactly %d argument(s)", os.Args[0], cmd, expected)
		}
	case minArgs:
		if c.NArg() < expected {
			err = fmt.Errorf("%s: %q requires a minimum of %d argument(s)", os.Args[0], cmd, expected)
		}
	case maxArgs:
		if c.NArg() > expected {
			err = fmt.Errorf("%s: %q requires a maximum of %d argument(s)", os.Args[0], cmd, expected)
		}
	}
	if err != nil {
		fmt.Printf("Incorrect Usage.\n\n")
		_ = cli.ShowCommandHelp(c, cmd)
		return err
	}
	return nil
}

// newRuntime opens the runtime at --root, made absolute against the
// working directory (only the CLI resolves relative paths).
func newRuntime(c *cli.Context) (*berth.Runtime, error) {
	root, err := filepath.Abs(c.GlobalString("root"))
	if err != nil {
		return nil, fmt.Errorf("--root: %w", err)
	}
	// A bad --rootless matters only where a container is made (checked
	// there, as runc checks it); other commands ignore it, as runc's do.
	rootless, _ := rootlessFlag(c)
	return berth.New(root, berth.WithSystemdCgroup(c.GlobalBool("systemd-cgroup")), berth.WithRootlessCgroups(rootless))
}

// loadContainer loads the container named by the first argument.
func loadContainer(c *cli.Context) (*berth.Container, error) {
	rt, err := newRuntime(c)
	if err != nil {
		return nil, err
	}
	return rt.Load(c.Args().First())
}

// absPath resolves a CLI path argument against the working directory.
func absPath(flag, p string) (string, error) {
	if p == "" {
		p = "."
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	return abs, nil
}

// optionalAbsPath resolves a path flag that may be empty.
func optionalAbsPath(flag, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return absPath(flag, p)
}

// writePidFile writes pid to path atomically (temp file, then rename).
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_SYNC, 0o666)
	if err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	_, err = f.WriteString(strconv.Itoa(pid))
	f.Close()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}
