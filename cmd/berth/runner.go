package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
)

// process is what a foreground run or exec waits for and signals: a
// container's init or an exec'd process.
type process interface {
	Wait(ctx context.Context) (berth.ExitStatus, error)
	Signal(sig syscall.Signal) error
}

// initProcess adapts a container to process: signals go to its init.
type initProcess struct{ c *berth.Container }

func (p initProcess) Wait(ctx context.Context) (berth.ExitStatus, error) { return p.c.Wait(ctx) }
func (p initProcess) Signal(sig syscall.Signal) error                    { return p.c.Signal(sig, false) }

// stdioSetup is the stdio of a process berth starts, as runc arranges it:
// a console socket when detached with a terminal, berth's own terminal in
// the foreground, or berth's stdio passed through.
type stdioSetup struct {
	io      berth.IO
	tty     *foregroundTTY
	closers []*os.File
	// signals relays berth's signals to a foreground process; nil when
	// detached.
	signals *signalForwarder
}

// checkTerminal applies runc's rules on --console-socket.
func checkTerminal(terminal, detach bool, consoleSocket string) error {
	if detach && terminal && consoleSocket == "" {
		return errors.New("cannot allocate tty if berth will detach without setting console socket (--console-socket)")
	}
	if (!detach || !terminal) && consoleSocket != "" {
		return errors.New("cannot use console socket if berth will not detach or allocate tty (process.terminal)")
	}
	return nil
}

// stdioFlags are the command line's say on a process's stdio.
type stdioFlags struct {
	terminal, detach bool
	// consoleSocket and pidfdSocket are the paths of --console-socket and
	// --pidfd-socket, or "".
	consoleSocket, pidfdSocket string
}

// stdioFlagsOf reads --console-socket and --pidfd-socket (each "" where
// the command has no such flag).
func stdioFlagsOf(c *cli.Context, terminal, detach bool) stdioFlags {
	return stdioFlags{terminal: terminal, detach: detach,
		consoleSocket: c.String("console-socket"), pidfdSocket: c.String("pidfd-socket")}
}

// setupStdio prepares a process's stdio and, in the foreground, starts
// taking berth's signals: before the process starts, so none is missed.
// With --pidfd-socket, the process sends a pidfd of itself there.
func setupStdio(f stdioFlags) (*stdioSetup, error) {
	terminal, detach := f.terminal, f.detach
	if err := checkTerminal(terminal, detach, f.consoleSocket); err != nil {
		return nil, err
	}
	s := &stdioSetup{}
	if f.pidfdSocket != "" {
		sock, err := dialSocket("pidfd-socket", f.pidfdSocket)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, sock)
		s.io.PidfdSocket = sock
	}
	switch {
	case terminal && detach:
		sock, err := dialSocket("console-socket", f.consoleSocket)
		if err != nil {
			s.close()
			return nil, err
		}
		s.closers = append(s.closers, sock)
		s.io.ConsoleSocket = sock
	case terminal:
		tty, err := newForegroundTTY()
		if err != nil {
			s.close()
			return nil, err
		}
		s.tty = tty
		s.io.ConsoleSocket = tty.pair.Remote
	default:
		s.io.Stdin, s.io.Stdout, s.io.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	if !detach {
		s.signals = newSignalForwarder()
	}
	return s, nil
}

// forward relays signals to a foreground process until it exits, then
// lets its output drain and restores the terminal.
func (s *stdioSetup) forward(ctx context.Context, p process) berth.ExitStatus {
	status := s.signals.forward(ctx, p, s.tty)
	s.close()
	return status
}

// close releases berth's copies; with a terminal it waits for the output
// to drain and restores the host terminal. It is safe to call twice.
func (s *stdioSetup) close() {
	for _, f := range s.closers {
		f.Close()
	}
	s.closers = nil
	s.tty.Close()
}

// beforeStart waits, with a foreground terminal, until the created
// process's terminal is set up, so that nothing it writes once started
// passes through the terminal's default output processing.
func (s *stdioSetup) beforeStart() error { return s.tty.waitConsole() }

// afterStart attaches the terminal and writes the pid file.
func (s *stdioSetup) afterStart(pid int, pidFile string) error {
	for _, f := range s.closers {
		f.Close()
	}
	s.closers = nil
	if s.tty != nil {
		if err := s.tty.attach(); err != nil {
			return err
		}
	}
	if pidFile != "" {
		return writePidFile(pidFile, pid)
	}
	return nil
}

// dialSocket connects to the unix socket at path, given by --flag, and
// returns it as a file to hand to the container's process.
func dialSocket(flag, path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	defer conn.Close()
	f, err := conn.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	return f, nil
}

// listenFiles returns the sockets systemd passed for socket activation
// (LISTEN_FDS fds from 3, when LISTEN_PID is this process), which the
// container gets first among its extra files, as runc passes them.
func listenFiles() []*os.File {
	pid, err := strconv.Atoi(os.Getenv("LISTEN_PID"))
	if err != nil || pid != os.Getpid() {
		return nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n <= 0 {
		return nil
	}
	names := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	files := make([]*os.File, 0, n)
	for fd := 3; fd < 3+n; fd++ {
		unix.CloseOnExec(fd)
		name := "LISTEN_FD_" + strconv.Itoa(fd)
		if i := fd - 3; i < len(names) && names[i] != "" {
			name = names[i]
		}
		files = append(files, os.NewFile(uintptr(fd), name))
	}
	return files
}

// preservedFiles returns the n fds from base of this process, for
// --preserve-fds (base is 3, after any socket activation fds).
func preservedFiles(base, n int) ([]*os.File, error) {
	if n < 0 {
		return nil, fmt.Errorf("--preserve-fds: %d is negative", n)
	}
	var files []*os.File
	for fd := base; fd < base+n; fd++ {
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
