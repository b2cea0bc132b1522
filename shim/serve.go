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
	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/berth-oci/berth/shim/stdio"
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
	handed, err := readHandover()
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
	inherited, err := inheritedConns(handed)
	if err != nil {
		return err
	}
	l := newHandoverListener(raw, inherited)
	handlers := newInflight()
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
	cfg := serviceConfig{
		namespace: f.namespace,
		events:    pub,
		shutdown:  stop,
		stopListening: func() {
			listenerClosed.Store(true)
			if f.socket != "" {
				_ = os.Remove(socketPath(f.socket))
			}
			_ = l.Close()
		},
		stdioPipes: stdioPipes,
		// The container start launched this daemon for is pinned until
		// containerd creates it; an upgraded daemon's pins are handed over.
		pinned: f.id,
	}
	if handed != nil {
		cfg.pinned = ""
	}
	svc := newService(cfg)
	up, err := newUpgrader(l, svc, handlers, pub, handed)
	if err != nil {
		return err
	}
	taskv3.RegisterTTRPCTaskService(server, svc)
	registerTaskV2(server, svc)
	registerGroup(server, svc)
	registerSandbox(server, svc)

	handleSignals(ctx, stop, up)
	go func() {
		if err := server.Serve(ctx, l); err != nil && err != ttrpc.ErrServerClosed && !listenerClosed.Load() {
			logrus.WithError(err).Error("ttrpc server")
			stop()
		}
	}()
	serveMainThread(done)
	drainServer(server, l, handlers, listenerClosed.Load(), 2*time.Second)
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
func prepareImage(f *flags, handed *handoverState) error {
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
func daemonListener(handed *handoverState) (*net.UnixListener, error) {
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
func newTaskServer(handlers *inflight) (*ttrpc.Server, error) {
	scavenger := newIdleScavenger()
	return ttrpc.NewServer(
		ttrpc.WithServerHandshaker(handoverHandshaker{ttrpc.UnixSocketRequireSameUser()}),
		ttrpc.WithUnaryServerInterceptor(func(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
			defer scavenger.touch()
			defer handlers.begin(strings.TrimPrefix(info.FullMethod, "/"))()
			return recoverPanics(ctx, unmarshal, info, method)
		}),
	)
}

// newUpgrader is the daemon's upgrader. In an upgraded image it first
// takes back what the earlier image handed over: the undelivered events,
// then the tasks, adopted as the reaper starts so that no exit is missed.
func newUpgrader(l *handoverListener, svc *service, handlers *inflight, pub *events.Publisher, handed *handoverState) (*upgrader, error) {
	up := &upgrader{listener: l, svc: svc, handlers: handlers, events: pub}
	var err error
	if up.exe, err = selfExe(); err != nil {
		return nil, err
	}
	if handed != nil {
		up.generation = handed.Generation
		pub.Requeue(handed.Events)
		if err := berth.StartReaperAdopting(func() error { return svc.adoptTasks(handed) }); err != nil {
			logrus.WithError(err).Error("upgrade: the tasks handed over were not all adopted")
		}
		logrus.Infof("upgrade: serving as generation %d, %d tasks adopted", handed.Generation, len(handed.Tasks))
	}
	generation.Store(int64(up.generation))
	return up, nil
}

// handleSignals stops the daemon on SIGTERM or SIGINT and upgrades it on
// SIGHUP; it also keeps the daemon alive when containerd's end of its
// stderr goes, and dumps stacks on request.
func handleSignals(ctx context.Context, stop func(), up *upgrader) {
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
			err := up.upgrade(ctx)
			logrus.WithError(err).Error("upgrade")
			setUpgradeError(err)
		}
	}()
}

// generation is the daemon's image count: 0 until an upgrade (stats).
var generation atomic.Int64

// inheritedConns are the connections an earlier image handed over.
func inheritedConns(handed *handoverState) ([]*handoverConn, error) {
	if handed == nil {
		return nil, nil
	}
	var out []*handoverConn
	for _, cs := range handed.Conns {
		f := os.NewFile(uintptr(cs.Fd), "connection")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("connection handed over: %w", err)
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			return nil, fmt.Errorf("connection handed over: not a unix socket")
		}
		out = append(out, newHandoverConn(uc, cs.Requeue, cs.Carry, nil))
	}
	return out, nil
}

// handoverHandshaker checks a connection's peer as inner does, on the
// socket under the handoverConn, and gives the server the handoverConn.
type handoverHandshaker struct{ inner ttrpc.Handshaker }

func (h handoverHandshaker) Handshake(ctx context.Context, conn net.Conn) (net.Conn, any, error) {
	hc, ok := conn.(*handoverConn)
	if !ok {
		return h.inner.Handshake(ctx, conn)
	}
	_, info, err := h.inner.Handshake(ctx, hc.raw)
	if err != nil {
		return nil, nil, err
	}
	return hc, info, nil
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
