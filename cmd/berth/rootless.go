package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/moby/sys/userns"
	"github.com/urfave/cli"
)

// defaultStateRoot is where state lives without --root, as runc decides
// it: $XDG_RUNTIME_DIR/berth for an unprivileged user (or root in a user
// namespace whose $USER is not root), else /run/berth. xdg says the first.
func defaultStateRoot(euid int, inUserNS bool, getenv func(string) string, lookupEnv func(string) (string, bool)) (root string, xdg bool) {
	dir := getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		return "/run/berth", false
	}
	honor := euid != 0
	if euid == 0 && inUserNS {
		u, ok := lookupEnv("USER")
		honor = !ok || u != "root"
	}
	if !honor {
		return "/run/berth", false
	}
	return dir + "/berth", true
}

// prepareXDGRoot makes the default root under $XDG_RUNTIME_DIR, sticky, as
// the XDG specification asks so that it is not pruned (and as runc does).
func prepareXDGRoot(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("state root %s under $XDG_RUNTIME_DIR: %w (the path must be writable by the user)", root, err)
	}
	if err := os.Chmod(root, 0o700|os.ModeSticky); err != nil {
		return fmt.Errorf("state root %s under $XDG_RUNTIME_DIR: %w", root, err)
	}
	return nil
}

// rootlessFlag reads --rootless: true, false, or auto (nil, detected by
// the runtime), as runc takes it.
func rootlessFlag(c *cli.Context) (*bool, error) {
	v := c.GlobalString("rootless")
	if v == "" || v == "auto" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("--rootless: %q is not true, false or auto", v)
	}
	return &b, nil
}

// stateRootDefault is the default of --root for this process.
func stateRootDefault() (string, bool) {
	return defaultStateRoot(os.Geteuid(), userns.RunningInUserNS(), os.Getenv, os.LookupEnv)
}
