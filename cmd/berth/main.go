// Command berth is a runc-compatible OCI runtime CLI built on berth's
// runtime library: the same commands, flags, outputs and exit codes as runc.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/urfave/cli"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func init() {
	// Must come first: the container's init is this binary re-executed.
	berth.Init()
}

const usage = `Open Container Initiative runtime

berth is a runc-compatible command line client for running applications
packaged according to the Open Container Initiative (OCI) format.

Containers are configured using bundles: a directory holding the
specification "config.json" and a root filesystem. To start a container:

    # berth run [ -b bundle ] <container-id>`

func main() {
	app := newApp()
	cli.ErrWriter = logWriter{}
	if err := app.Run(os.Args); err != nil {
		fatal(err)
	}
}

func newApp() *cli.App {
	app := cli.NewApp()
	app.Name = "berth"
	app.Usage = usage
	app.Version = version
	cli.VersionPrinter = printVersion
	root, xdgRoot := stateRootDefault()
	app.Flags = []cli.Flag{
		cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
		cli.StringFlag{Name: "log", Usage: "set the log file to write berth logs to (default is '/dev/stderr')"},
		cli.StringFlag{Name: "log-format", Value: "text", Usage: "set the log format ('text' (default), or 'json')"},
		cli.StringFlag{Name: "root", Value: root, Usage: "root directory for storage of container state (this should be located in tmpfs)"},
		cli.BoolFlag{Name: "systemd-cgroup", Usage: "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\" for e.g. \"system.slice:berth:434234\""},
		cli.StringFlag{Name: "rootless", Value: "auto", Usage: "ignore cgroup permission errors ('true', 'false', or 'auto')"},
	}
	app.Commands = []cli.Command{
		checkpointCommand,
		createCommand,
		deleteCommand,
		eventsCommand,
		execCommand,
		featuresCommand,
		killCommand,
		listCommand,
		pauseCommand,
		psCommand,
		restoreCommand,
		resumeCommand,
		runCommand,
		specCommand,
		startCommand,
		stateCommand,
		updateCommand,
	}
	app.Before = func(c *cli.Context) error {
		if !c.IsSet("root") && xdgRoot {
			if err := prepareXDGRoot(root); err != nil {
				return err
			}
		}
		return configureLogging(c)
	}
	return app
}

func printVersion(c *cli.Context) {
	w := c.App.Writer
	fmt.Fprintf(w, "berth version %s\n", c.App.Version)
	fmt.Fprintf(w, "spec: %s\n", specs.Version)
	fmt.Fprintf(w, "go: %s\n", runtime.Version())
	if major, minor, micro := seccomp.Version(); major+minor+micro > 0 {
		fmt.Fprintf(w, "libseccomp: %d.%d.%d\n", major, minor, micro)
	}
}
