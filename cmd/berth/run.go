package main

import (
	"os"

	"github.com/urfave/cli"
)

var runCommand = cli.Command{
	Name:  "run",
	Usage: "create and run a container",
	ArgsUsage: `<container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host.`,
	Description: `The run command creates an instance of a container for a bundle and starts it.
In the foreground it forwards signals to the container and exits with the
container's exit code (128+signal when the container was killed).`,
	Flags: append([]cli.Flag{
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
	}, startFlags...),
	Action: func(c *cli.Context) error {
		code, err := startContainer(c, actionRun)
		if err != nil {
			return err
		}
		// Exit with the container's exit code.
		os.Exit(code)
		return nil
	},
}
