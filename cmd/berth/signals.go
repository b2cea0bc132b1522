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
}

func newSignalForwarder() *signalForwarder {
	f := &signalForwarder{ch: make(chan os.Signal, 2048)}
	signal.Notify(f.ch)
	return f
}

func (f *signalForwarder) stop() { signal.Stop(f.ch) }

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
