package main

import (
	"context"
	"errors"
	"os"

	"github.com/urfave/cli"

	berth "github.com/berth-oci/berth/runtime"
)

var startCommand = cli.Command{
	Name:  "start",
	Usage: "executes the user defined process in a created container",
	ArgsUsage: `<container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting.`,
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, exactArgs); err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		ctx := context.Background()
		host := os.Getenv("NOTIFY_SOCKET")
		if host == "" {
			return ctr.Start(ctx)
		}
		// Created with NOTIFY_SOCKET: bind the container's socket, start,
		// and return once it is ready (or gone), as runc's start does.
		relay, err := ctr.ListenNotify(host)
		if errors.Is(err, berth.ErrNoNotifySocket) {
			return ctr.Start(ctx)
		} else if err != nil {
			return err
		}
		defer relay.Close()
		if err := ctr.Start(ctx); err != nil {
			return err
		}
		pid, err := ctr.Pid()
		if err != nil {
			return err
		}
		return relay.Relay(ctx, pid, pid)
	},
}
