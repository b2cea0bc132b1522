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
	"sync"
	"sync/atomic"
	"time"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
)

// listenerFD is where start hands the daemon its listening socket.
const listenerFD = 3

// serve runs the daemon: a ttrpc server for the task API on the socket
// inherited from start, until Shutdown or SIGTERM.
func serve(ctx context.Context, f *flags) error {
	setupLogging(f.debug)
	// The cwd is the first bundle, which containerd deletes later; the
	// library needs an existing working directory.
	if err := os.Chdir("/"); err != nil {
		return err
	}
	// A long-lived daemon per container or pod: keep the heap small.
	debug.SetGCPercent(40)
	if err := berth.StartReaper(); err != nil {
		return err
	}
	lf := os.NewFile(listenerFD, "shim-socket")
	l, err := net.FileListener(lf)
	lf.Close()
	if err != nil {
		return fmt.Errorf("socket from start: %w", err)
	}
	scavenger := newIdleScavenger()
	handlers := newInflight()
	server, err := ttrpc.NewServer(
		ttrpc.WithServerHandshaker(ttrpc.UnixSocketRequireSameUser()),
		ttrpc.WithUnaryServerInterceptor(func(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
			defer scavenger.touch()
			defer handlers.begin()()
			return recoverPanics(ctx, unmarshal, info, method)
		}),
	)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done) }) }
	events := newPublisher(f.namespace, os.Getenv("TTRPC_ADDRESS"))
	stdioPipes, err := stdioThroughPipes(os.Getenv(StdioEnv), defaultLookPath)
	if err != nil {
		return err
	}
	var listenerClosed atomic.Bool
	svc := newService(serviceConfig{
		namespace: f.namespace,
		events:    events,
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
		// containerd creates it.
		pinned: f.id,
	})
	taskv3.RegisterTTRPCTaskService(server, svc)
	registerTaskV2(server, svc)
	registerGroup(server, svc)

	surviveBrokenStderr()
	dumpStacksOnSignal()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT)
	go func() {
		<-sigs
		stop()
	}()
	go func() {
		if err := server.Serve(ctx, l); err != nil && err != ttrpc.ErrServerClosed && !listenerClosed.Load() {
			logrus.WithError(err).Error("ttrpc server")
			stop()
		}
	}()
	<-done
	// Stop serving once the handlers running have returned (the Shutdown
	// that retired the daemon among them), then gracefully: ttrpc closes a
	// connection once it has no request in flight. A connection's state is
	// updated only between its messages, so a reply can still lose the race
	// with the close; containerd takes ttrpc.ErrClosed from Shutdown as
	// success (core/runtime/v2/shim.go).
	if !handlers.wait(2 * time.Second) {
		logrus.Warn("shutting down with requests still running after 2s")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = server.Shutdown(sctx)
	// A retired daemon removed its socket already; the path may now
	// belong to the group's next daemon.
	if f.socket != "" && !listenerClosed.Load() {
		_ = os.Remove(socketPath(f.socket))
	}
	events.close(5 * time.Second)
	return nil
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
