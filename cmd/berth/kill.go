package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli"
	"golang.org/x/sys/unix"
)

var killCommand = cli.Command{
	Name:  "kill",
	Usage: "kill sends the specified signal (default: SIGTERM) to the container's init process",
	ArgsUsage: `<container-id> [signal]

Where "<container-id>" is the name for the instance of the container and
"[signal]" is the signal to be sent to the init process: a name with or
without "SIG" (KILL, SIGKILL) or a number.`,
	Flags: []cli.Flag{
		cli.BoolFlag{Name: "all, a", Usage: "send the signal to all processes in the container"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, minArgs); err != nil {
			return err
		}
		if err := checkArgs(c, 2, maxArgs); err != nil {
			return err
		}
		sigstr := c.Args().Get(1)
		if sigstr == "" {
			sigstr = "SIGTERM"
		}
		sig, err := parseSignal(sigstr)
		if err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		return ctr.Signal(sig, c.Bool("all"))
	},
}

// parseSignal takes a signal number or name, with or without "SIG".
func parseSignal(raw string) (unix.Signal, error) {
	if n, err := strconv.Atoi(raw); err == nil {
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("signal %q: not a signal number (0 to 64)", raw)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(raw)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", raw)
	}
	return sig, nil
}
