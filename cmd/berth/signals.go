package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
)

// signalForwarder relays the signals berth receives to a foreground
// container's init, as runc does.
type signalForwarder struct {
	ch chan os.Signal
	// subscribed is closed once ch takes every signal.
	subscribed chan struct{}
}

// newSignalForwarder subscribes to every signal in the background, as runc
// does: signal.Notify of all ~65 signals costs about 3 ms here (a round
// trip to the runtime's signal-mask thread per signal), which then
// overlaps the container's creation. berth never unsubscribes: it exits
// once the process it forwards to has exited and been deleted.
func newSignalForwarder() *signalForwarder {
	f := &signalForwarder{ch: make(chan os.Signal, 2048), subscribed: make(chan struct{})}
	go func() {
		signal.Notify(f.ch)
		close(f.subscribed)
	}()
	return f
}

// forward relays signals to p until it exits, and returns how it exited.
func (f *signalForwarder) forward(ctx context.Context, p process, tty *foregroundTTY) berth.ExitStatus {
	exited := make(chan berth.ExitStatus, 1)
	go func() {
		es, err := p.Wait(ctx)
		if err != nil {
			logrus.WithError(err).Error("wait for process")
			es = berth.ExitStatus{Code: berth.UnknownExitCode}
		}
		exited <- es
	}()
	<-f.subscribed
	tty.resize()
	for {
		select {
		case es := <-exited:
			return es
		case s := <-f.ch:
			sig, ok := s.(syscall.Signal)
			if !ok {
				continue
			}
			switch sig {
			case unix.SIGCHLD:
			case unix.SIGURG:
				// The Go runtime's preemption signal: never the user's.
			case unix.SIGWINCH:
				tty.resize()
			default:
				logrus.Debugf("forwarding signal %d (%s)", int(sig), unix.SignalName(sig))
				if err := p.Signal(sig); err != nil {
					logrus.WithError(err).Debug("forward signal")
				}
			}
		}
	}
}
