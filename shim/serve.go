package shim

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-oci/berth/shim/events"
	"github.com/berth-oci/berth/shim/internal/mainthread"
	"github.com/berth-oci/berth/shim/sandbox"
	"github.com/berth-oci/berth/shim/stdio"
	"github.com/berth-oci/berth/shim/task"
	"github.com/berth-oci/berth/shim/upgrade"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
)

// listenerFD is where start hands the daemon its listening socket.
const listenerFD = 3

// serve runs the daemon: a ttrpc server for the task API on the socket
// inherited from start, until Shutdown or SIGTERM. A daemon an upgrade
// re-executed is handed its state (upgrade.go): handed is nil for a daemon
// as start launched it.
func serve(ctx context.Context, f *flags) error {
	handed, err := upgrade.ReadState()
	if err != nil {
		return err
	}
	if err := prepareImage(f, handed); err != nil {
		return err
	}
	raw, err := daemonListener(handed)
	if err != nil {
		return err
	}
	inherited, err := upgrade.InheritedConns(handed)
	if err != nil {
		return err
	}
	l := upgrade.NewListener(raw, inherited)
	handlers := upgrade.NewInflight()
	server, err := newTaskServer(handlers)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done) }) }
	pub := events.New(f.namespace, os.Getenv("TTRPC_ADDRESS"))
	stdioPipes, err := stdio.ThroughPipes(os.Getenv(StdioEnv), stdio.LookPath)
	if err != nil {
		return err
	}
	var listenerClosed atomic.Bool
	b := newBooks(stop, func() {
		listenerClosed.Store(true)
		if f.socket != "" {
			_ = os.Remove(socketPath(f.socket))
		}
		_ = l.Close()
	})
	if handed == nil && f.id != "" {
		// The container start launched this daemon for is pinned until
		// containerd creates it; an upgraded daemon's pins are handed over.
		_ = b.pin(f.id)
	}
	parts := upgrade.Parts{
		Pins:   b,
		Tasks:  task.NewService(task.Config{Namespace: f.namespace, Events: pub, Keeper: keeper{b, "task"}, StdioPipes: stdioPipes}),
		Pods:   sandbox.NewService(keeper{b, "pod"}),
		Events: pub,
	}
	up, err := upgrade.New(l, handlers, parts, handed)
	if err != nil {
		return err
	}
	parts.Tasks.Register(server)
	registerGroup(server, b, parts.Tasks)
	parts.Pods.Register(server)

	handleSignals(ctx, stop, up)
	go func() {
		if err := server.Serve(ctx, l); err != nil && err != ttrpc.ErrServerClosed && !listenerClosed.Load() {
			logrus.WithError(err).Error("ttrpc server")
			stop()
		}
	}()
	mainthread.Serve(done)
	upgrade.Drain(server, l, handlers, listenerClosed.Load(), 2*time.Second)
	// A retired daemon removed its socket already; the path may now
	// belong to the group's next daemon.
	if f.socket != "" && !listenerClosed.Load() {
		_ = os.Remove(socketPath(f.socket))
	}
	pub.Close(5 * time.Second)
	return nil
}

// prepareImage sets up this process image: logging, the working
// directory and the reaper for a daemon as started (an upgraded image
// keeps the process's cwd, and adopts its reaper's children in
// newUpgrader), and a small heap for a long-lived daemon.
func prepareImage(f *flags, handed *upgrade.State) error {
	if handed != nil {
		setupHandedLogging(f.debug)
		debug.SetGCPercent(40)
		return nil
	}
	setupLogging(f.debug)
	// The cwd is the first bundle, which containerd deletes later; the
	// library needs an existing working directory.
	if err := os.Chdir("/"); err != nil {
		return err
	}
	debug.SetGCPercent(40)
	return berth.StartReaper()
}

// daemonListener is the listening socket: fd 3 from start, or the one an
// earlier image handed over.
func daemonListener(handed *upgrade.State) (*net.UnixListener, error) {
	fd := uintptr(listenerFD)
	if handed != nil {
		fd = uintptr(handed.Listener)
	}
	lf := os.NewFile(fd, "shim-socket")
	fl, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return nil, fmt.Errorf("socket from start: %w", err)
	}
	raw, ok := fl.(*net.UnixListener)
	if !ok {
		return nil, fmt.Errorf("socket from start: not a unix socket")
	}
	return raw, nil
}

// newTaskServer is the daemon's ttrpc server: same-user connections that
// an upgrade can hand over, each request counted in handlers (for the
// upgrade and the drain), a panic in a handler turned into an error.
func newTaskServer(handlers *upgrade.Inflight) (*ttrpc.Server, error) {
	scavenger := newIdleScavenger()
	return ttrpc.NewServer(
		ttrpc.WithServerHandshaker(upgrade.Handshaker{Inner: ttrpc.UnixSocketRequireSameUser()}),
		ttrpc.WithUnaryServerInterceptor(func(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
			defer scavenger.touch()
			defer handlers.Begin(strings.TrimPrefix(info.FullMethod, "/"))()
			return recoverPanics(ctx, unmarshal, info, method)
		}),
	)
}

// handleSignals stops the daemon on SIGTERM or SIGINT and upgrades it on
// SIGHUP; it also keeps the daemon alive when containerd's end of its
// stderr goes, and dumps stacks on request.
func handleSignals(ctx context.Context, stop func(), up *upgrade.Upgrader) {
	surviveBrokenStderr()
	dumpStacksOnSignal()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	go func() {
		<-sigs
		stop()
	}()
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, unix.SIGHUP)
	go func() {
		for range hups {
			err := up.Upgrade(ctx)
			logrus.WithError(err).Error("upgrade")
		}
	}()
}

// setupHandedLogging keeps logging where the earlier image did: its
// stderr, which setupLogging made the log FIFO.
func setupHandedLogging(debugOn bool) {
	logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})
	if debugOn {
		logrus.SetLevel(logrus.DebugLevel)
	}
	logrus.SetOutput(os.Stderr)
}

// surviveBrokenStderr keeps a write to a broken stderr from killing the
// daemon. Its log and stderr are the first container's log FIFO; once
// containerd closes that, a write must fail with EPIPE rather than end a
// daemon that serves other containers (Go kills a program that writes to a
// broken fd 1 or 2 unless it asks for SIGPIPE). Notify rather than Ignore,
// so the containers it starts still get SIGPIPE's default action.
func surviveBrokenStderr() {
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)
}

// dumpStacksOnSignal logs every goroutine's stack on SIGUSR1, as
// containerd's shims do: the way to see where a daemon that seems stuck
// is waiting (the log reaches containerd's own).
func dumpStacksOnSignal() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, unix.SIGUSR1)
	go func() {
		for range c {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			logrus.Infof("=== goroutine stack dump (SIGUSR1) ===\n%s\n=== end of goroutine stack dump ===", buf[:n])
		}
	}()
}

// setupLogging sends logs to the bundle's "log" FIFO, which containerd
// reads into its own log; without it, logs are dropped.
func setupLogging(debugOn bool) {
	logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})
	if debugOn {
		logrus.SetLevel(logrus.DebugLevel)
	}
	f, err := os.OpenFile("log", os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		logrus.SetOutput(io.Discard)
		return
	}
	logrus.SetOutput(f)
	// A crash (the Go runtime writes to fd 2) lands in containerd's log too.
	_ = unix.Dup2(int(f.Fd()), 2)
}

// recoverPanics turns a panic in one request into an error for that
// request, so one bug does not take down every container of the shim.
func recoverPanics(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			logrus.Errorf("panic in %s: %v\n%s", info.FullMethod, r, debug.Stack())
			err = fmt.Errorf("internal error in %s: %v", info.FullMethod, r)
		}
	}()
	return method(ctx, unmarshal)
}
