package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"

	berth "github.com/berth-oci/berth/runtime"
)

// criuFlags are the CRIU flags checkpoint and restore share, as runc has them.
var criuFlags = []cli.Flag{
	cli.StringFlag{Name: "image-path", Usage: "path for saving criu image files (default: ./checkpoint)"},
	cli.StringFlag{Name: "work-path", Usage: "path for saving work files and logs"},
	cli.BoolFlag{Name: "tcp-established", Usage: "allow open tcp connections"},
	cli.BoolFlag{Name: "ext-unix-sk", Usage: "allow external unix sockets"},
	cli.BoolFlag{Name: "shell-job", Usage: "allow shell jobs"},
	cli.BoolFlag{Name: "file-locks", Usage: "handle file locks, for safety"},
	cli.StringFlag{Name: "manage-cgroups-mode", Usage: "cgroups mode: soft|full|strict|ignore (default: soft)"},
	cli.StringSliceFlag{Name: "empty-ns", Usage: "create a namespace, but don't restore its properties"},
	cli.BoolFlag{Name: "auto-dedup", Usage: "enable auto deduplication of memory images"},
	cli.BoolFlag{Name: "lazy-pages", Usage: "use userfaultfd to lazily restore memory pages"},
}

var checkpointCommand = cli.Command{
	Name:  "checkpoint",
	Usage: "checkpoint a running container",
	ArgsUsage: `<container-id>

Where "<container-id>" is the name for the instance of the container to be
checkpointed.`,
	Description: `The checkpoint command saves the state of the container instance with CRIU.`,
	Flags: append([]cli.Flag{
		cli.StringFlag{Name: "parent-path", Usage: "path for previous criu image files in pre-dump"},
		cli.BoolFlag{Name: "leave-running", Usage: "leave the process running after checkpointing"},
		cli.BoolFlag{Name: "pre-dump", Usage: "dump container's memory information only, leave the container running after this"},
		cli.BoolFlag{Name: "tcp-skip-in-flight", Usage: "skip in-flight tcp connections"},
		cli.BoolFlag{Name: "link-remap", Usage: "allow one to link unlinked files back when possible"},
		cli.IntFlag{Name: "status-fd", Value: -1, Usage: "criu writes \\0 to this FD once lazy-pages is ready"},
		cli.StringFlag{Name: "page-server", Usage: "ADDRESS:PORT of the page server"},
	}, criuFlags...),
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, exactArgs); err != nil {
			return err
		}
		opts, err := checkpointOpts(c)
		if err != nil {
			return err
		}
		if opts.ParentPath, err = parentPath(opts.ImagePath, c.String("parent-path")); err != nil {
			return err
		}
		opts.LeaveRunning = c.Bool("leave-running")
		opts.PreDump = c.Bool("pre-dump")
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		if err := ctr.Checkpoint(context.Background(), opts); err != nil {
			return err
		}
		if !opts.LeaveRunning && !opts.PreDump {
			// As runc's checkpoint: the container CRIU stopped is removed
			// (a failure to remove it is only warned about).
			if err := ctr.Delete(context.Background(), true); err != nil {
				logrus.Warn(err)
			}
		}
		return nil
	},
}

var restoreCommand = cli.Command{
	Name:  "restore",
	Usage: "restore a container from a previous checkpoint",
	ArgsUsage: `<container-id>

Where "<container-id>" is the name for the instance of the container to be
restored.`,
	Description: `Restores the saved state of the container instance that was previously saved
using the berth checkpoint command.`,
	Flags: append([]cli.Flag{
		cli.StringFlag{Name: "bundle, b", Usage: "path to the root of the bundle directory"},
		cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
		cli.BoolFlag{Name: "detach, d", Usage: "detach from the container's process"},
		cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
		cli.BoolFlag{Name: "no-subreaper", Usage: "accepted for runc compatibility: berth never makes itself a subreaper"},
		cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot root to jail process inside rootfs"},
		cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
		cli.StringFlag{Name: "lsm-profile", Usage: "Specify an LSM profile to be used during restore in the form of TYPE:NAME."},
		cli.StringFlag{Name: "lsm-mount-context", Usage: "Specify an LSM mount context to be used during restore."},
	}, criuFlags...),
	Action: func(c *cli.Context) error {
		code, err := startContainer(c, actionRestore)
		if err != nil {
			return err
		}
		exitIfForeground(c, code)
		return nil
	},
}

// checkpointOpts reads the CRIU flags checkpoint and restore share.
func checkpointOpts(c *cli.Context) (berth.CheckpointOpts, error) {
	image := c.String("image-path")
	if image == "" {
		image = "checkpoint"
	}
	image, err := filepath.Abs(image)
	if err != nil {
		return berth.CheckpointOpts{}, err
	}
	work, err := optionalAbsPath("work-path", c.String("work-path"))
	if err != nil {
		return berth.CheckpointOpts{}, err
	}
	opts := berth.CheckpointOpts{
		ImagePath:           image,
		WorkPath:            work,
		TCPEstablished:      c.Bool("tcp-established"),
		ExternalUnixSockets: c.Bool("ext-unix-sk"),
		ShellJob:            c.Bool("shell-job"),
		FileLocks:           c.Bool("file-locks"),
		ManageCgroupsMode:   c.String("manage-cgroups-mode"),
		EmptyNamespaces:     c.StringSlice("empty-ns"),
		AutoDedup:           c.Bool("auto-dedup"),
		LazyPages:           c.Bool("lazy-pages"),
		TCPSkipInFlight:     c.Bool("tcp-skip-in-flight"),
		LinkRemap:           c.Bool("link-remap"),
		PageServer:          c.String("page-server"),
		LSMProfile:          c.String("lsm-profile"),
		LSMMountContext:     c.String("lsm-mount-context"),
	}
	if fd := c.Int("status-fd"); c.IsSet("status-fd") && fd >= 0 {
		opts.StatusFile = os.NewFile(uintptr(fd), "status-fd")
	}
	return opts, nil
}

// parentPath checks --parent-path as runc does: it names the images of a
// previous pre-dump, relative to the image path, and must exist there.
func parentPath(imagePath, parent string) (string, error) {
	if parent == "" {
		return "", nil
	}
	if filepath.IsAbs(parent) {
		return "", fmt.Errorf("--parent-path: %q must be relative to --image-path", parent)
	}
	st, err := os.Stat(filepath.Join(imagePath, parent))
	if err == nil && !st.IsDir() {
		err = fmt.Errorf("%s is not a directory", filepath.Join(imagePath, parent))
	}
	if err != nil {
		return "", fmt.Errorf("--parent-path: %w", err)
	}
	return parent, nil
}
