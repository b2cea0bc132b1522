package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// startFlags are the flags that create and run share, as runc has them.
var startFlags = []cli.Flag{
	cli.StringFlag{Name: "bundle, b", Usage: "path to the root of the bundle directory, defaults to the current directory"},
	cli.StringFlag{Name: "console-socket", Usage: "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal"},
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
)

// startContainer implements create and run. It returns the exit code: the
// container's for a foreground run, 0 otherwise.
func startContainer(c *cli.Context, action startAction) (int, error) {
	if err := checkArgs(c, 1, exactArgs); err != nil {
		return -1, err
	}
	id := c.Args().First()
	bundle, err := absPath("bundle", c.String("bundle"))
	if err != nil {
		return -1, err
	}
	s, err := spec.Load(bundle)
	if err != nil {
		return -1, err
	}
	detach := action == actionCreate || c.Bool("detach")
	consoleSocket := c.String("console-socket")
	if detach && s.Process.Terminal && consoleSocket == "" {
		return -1, errors.New("cannot allocate tty if berth will detach without setting console socket (--console-socket)")
	}
	if (!detach || !s.Process.Terminal) && consoleSocket != "" {
		return -1, errors.New("cannot use console socket if berth will not detach or allocate tty (process.terminal)")
	}
	pidFile := c.String("pid-file")
	if pidFile != "" {
		if pidFile, err = absPath("pid-file", pidFile); err != nil {
			return -1, err
		}
	}
	extra, err := preservedFiles(c.Int("preserve-fds"))
	if err != nil {
		return -1, err
	}
	rt, err := newRuntime(c)
	if err != nil {
		return -1, err
	}

	opts := berth.CreateOpts{
		Bundle:       bundle,
		Spec:         s,
		ExtraFiles:   extra,
		NoPivotRoot:  c.Bool("no-pivot"),
		NoNewKeyring: c.Bool("no-new-keyring"),
	}
	var tty *foregroundTTY
	switch {
	case s.Process.Terminal && detach:
		sock, err := dialConsoleSocket(consoleSocket)
		if err != nil {
			return -1, err
		}
		defer sock.Close()
		opts.IO.ConsoleSocket = sock
	case s.Process.Terminal:
		if tty, err = newForegroundTTY(); err != nil {
			return -1, err
		}
		defer tty.Close()
		opts.IO.ConsoleSocket = tty.pair.Remote
	default:
		opts.IO = berth.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	}

	var signals *signalForwarder
	if !detach {
		// Before the container starts, so that no signal is missed.
		signals = newSignalForwarder()
		defer signals.stop()
	}
	ctx := context.Background()
	var ctr *berth.Container
	if action == actionCreate {
		ctr, err = rt.Create(ctx, id, opts)
	} else {
		ctr, err = rt.Run(ctx, id, opts)
	}
	if err != nil {
		return -1, err
	}
	if err := afterStart(ctr, tty, pidFile); err != nil {
		_ = ctr.Delete(ctx, true)
		return -1, err
	}
	if detach {
		return 0, nil
	}
	status := signals.forward(ctx, ctr, tty)
	tty.Close()
	if !c.Bool("keep") {
		if err := ctr.Delete(ctx, true); err != nil {
			return -1, err
		}
	}
	if status.Code == berth.UnknownExitCode {
		return 255, nil
	}
	return status.Code, nil
}

func afterStart(ctr *berth.Container, tty *foregroundTTY, pidFile string) error {
	if tty != nil {
		if err := tty.attach(); err != nil {
			return err
		}
	}
	if pidFile != "" {
		pid, err := ctr.Pid()
		if err != nil {
			return err
		}
		return writePidFile(pidFile, pid)
	}
	return nil
}

// dialConsoleSocket connects to --console-socket and returns the socket as
// a file to hand to the container's init.
func dialConsoleSocket(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	return f, nil
}

// preservedFiles returns fds 3..3+n-1 of this process, for --preserve-fds.
func preservedFiles(n int) ([]*os.File, error) {
	if n < 0 {
		return nil, fmt.Errorf("--preserve-fds: %d is negative", n)
	}
	var files []*os.File
	for fd := 3; fd < 3+n; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return nil, fmt.Errorf("--preserve-fds: fd %d is not open: %w", fd, err)
		}
		// An fd inherited from the caller survived exec, so it cannot be
		// close-on-exec; one that is belongs to berth itself (the Go
		// runtime's poller) and must not leak into the container.
		if flags&unix.FD_CLOEXEC != 0 {
			return nil, fmt.Errorf("--preserve-fds: fd %d was not passed to berth by its caller", fd)
		}
		files = append(files, os.NewFile(uintptr(fd), "preserved-fd-"+strconv.Itoa(fd)))
	}
	return files, nil
}
