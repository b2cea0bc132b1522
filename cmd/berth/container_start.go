package main

import (
	"context"
	"os"
	"strconv"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// startFlags are the flags that create and run share, as runc has them.
var startFlags = []cli.Flag{
	cli.StringFlag{Name: "bundle, b", Usage: "path to the root of the bundle directory, defaults to the current directory"},
	cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
	cli.StringFlag{Name: "pidfd-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the init process"},
	cli.StringFlag{Name: "pid-file", Usage: "specify the file to write the process id to"},
	cli.BoolFlag{Name: "no-pivot", Usage: "do not use pivot root to jail process inside rootfs. This should be used whenever the rootfs is on top of a ramdisk"},
	cli.BoolFlag{Name: "no-new-keyring", Usage: "do not create a new session keyring for the container. This will cause the container to inherit the calling processes session key"},
	cli.IntFlag{Name: "preserve-fds", Usage: "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)"},
	cli.BoolFlag{Name: "no-subreaper", Usage: "accepted for runc compatibility: berth never makes itself a subreaper"},
}

type startAction int

const (
	actionCreate startAction = iota
	actionRun
	actionRestore
)

// startContainer implements create and run. It returns the exit code: the
// container's for a foreground run, 0 otherwise.
func startContainer(c *cli.Context, action startAction) (int, error) {
	if err := checkArgs(c, 1, exactArgs); err != nil {
		return -1, err
	}
	id := c.Args().First()
	if _, err := rootlessFlag(c); err != nil {
		return -1, err
	}
	bundle, err := absPath("bundle", c.String("bundle"))
	if err != nil {
		return -1, err
	}
	// Read, not Load: Create validates the spec, once.
	s, err := spec.Read(bundle)
	if err != nil {
		return -1, err
	}
	detach := action == actionCreate || c.Bool("detach")
	pidFile, err := optionalAbsPath("pid-file", c.String("pid-file"))
	if err != nil {
		return -1, err
	}
	// Socket activation: systemd's sockets first, then --preserve-fds,
	// and the process told of them, as runc does.
	extra := listenFiles()
	if len(extra) > 0 && s.Process != nil {
		s.Process.Env = append(s.Process.Env, "LISTEN_FDS="+strconv.Itoa(len(extra)), "LISTEN_PID=1")
	}
	preserved, err := preservedFiles(3+len(extra), c.Int("preserve-fds"))
	if err != nil {
		return -1, err
	}
	extra = append(extra, preserved...)
	notifyHost := os.Getenv("NOTIFY_SOCKET")
	rt, err := newRuntime(c)
	if err != nil {
		return -1, err
	}
	stdio, err := setupStdio(stdioFlagsOf(c, s.Process != nil && s.Process.Terminal, detach))
	if err != nil {
		return -1, err
	}
	defer stdio.close()
	opts := berth.CreateOpts{
		Bundle:       bundle,
		Spec:         s,
		IO:           stdio.io,
		ExtraFiles:   extra,
		NoPivotRoot:  c.Bool("no-pivot"),
		NoNewKeyring: c.Bool("no-new-keyring"),
		// systemd's sd_notify, relayed from the container as runc does.
		NotifySocket: notifyHost != "",
	}
	ctx := context.Background()
	var ctr *berth.Container
	var relay *berth.NotifyRelay
	switch action {
	case actionCreate:
		ctr, err = rt.Create(ctx, id, opts)
	case actionRun:
		// Create, then Start once a foreground terminal is set up, so
		// the container's first output is already processed as runc's.
		if ctr, err = rt.Create(ctx, id, opts); err == nil {
			if err = stdio.beforeStart(); err == nil && opts.NotifySocket {
				relay, err = ctr.ListenNotify(notifyHost)
			}
			if err == nil {
				err = ctr.Start(ctx)
			}
			if err != nil {
				_ = ctr.Delete(ctx, true)
				ctr = nil
			}
		}
	case actionRestore:
		var co berth.CheckpointOpts
		if co, err = checkpointOpts(c); err == nil {
			ctr, err = rt.Restore(ctx, id, opts, co)
		}
	}
	if err != nil {
		return -1, err
	}
	pid, err := ctr.Pid()
	if err == nil {
		err = stdio.afterStart(pid, pidFile)
	}
	if err != nil {
		_ = ctr.Delete(ctx, true)
		return -1, err
	}
	if relay != nil {
		defer relay.Close()
		if detach {
			// As runc: run -d returns once the container is ready (or
			// gone), and systemd is to watch its init.
			return 0, relay.Relay(ctx, pid, pid)
		}
		// In the foreground berth itself is the service's main process.
		go func() {
			if err := relay.Relay(ctx, os.Getpid(), pid); err != nil {
				logrus.WithError(err).Warn("relay the container's READY")
			}
		}()
	}
	if detach {
		return 0, nil
	}
	status := stdio.forward(ctx, initProcess{ctr})
	if !c.Bool("keep") {
		if err := ctr.Delete(ctx, true); err != nil {
			return -1, err
		}
	}
	return status.ExitCode(), nil
}

// exitIfForeground exits with the container's code after a foreground run
// or restore.
func exitIfForeground(c *cli.Context, code int) {
	if !c.Bool("detach") {
		os.Exit(code)
	}
}
