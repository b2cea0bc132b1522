package main

import (
	"github.com/urfave/cli"
)

var createCommand = cli.Command{
	Name:  "create",
	Usage: "create a container",
	ArgsUsage: `<container-id>

Where "<container-id>" is your name for the instance of the container that you
are starting. The name you provide for the container instance must be unique on
your host.`,
	Description: `The create command creates an instance of a container for a bundle. The bundle
is a directory with a specification file named "config.json" and a root
filesystem. The container waits in the "created" state until "berth start".`,
	Flags: startFlags,
	Action: func(c *cli.Context) error {
		_, err := startContainer(c, actionCreate)
		return err
	},
}
