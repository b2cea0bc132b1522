package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/containerd/console"

	berth "github.com/berth-oci/berth/runtime"
)

// foregroundTTY connects a foreground container's terminal to berth's own:
// the container's init sends its pty master over a socket pair, and berth
// copies between it and its stdio with the host terminal in raw mode.
type foregroundTTY struct {
	pair *berth.ConsolePair
	host console.Console
	// received gets the outcome of receive; relay is set before it.
	received chan error
	relay    *berth.TerminalRelay
	// waitOnce guards waitConsole, whose outcome is recvErr.
	waitOnce sync.Once
	recvErr  error
	attached bool
	once     sync.Once
}

func newForegroundTTY() (*foregroundTTY, error) {
	host, err := hostConsole()
	if err != nil {
		return nil, fmt.Errorf("process.terminal is true but berth has no terminal to attach (%w); use --detach with --console-socket, or set process.terminal to false", err)
	}
	pair, err := berth.NewConsolePair()
	if err != nil {
		return nil, err
	}
	t := &foregroundTTY{pair: pair, host: host, received: make(chan error, 1)}
	go t.receive()
	return t, nil
}

// receive takes the container's terminal as soon as its init sends it and
// turns ONLCR off at once, as runc does, so the container's "\n" is not
// written out as "\r\n".
func (t *foregroundTTY) receive() {
	relay, err := berth.ReceiveTerminal(t.pair, true)
	t.relay = relay
	t.received <- err
}

// waitConsole waits until the container's terminal has been received and
// set up. Call it once the process has been created: berth then closes
// its copy of the socket, so a process that dies without sending its
// terminal ends the wait. It is safe on nil and to call twice.
func (t *foregroundTTY) waitConsole() error {
	if t == nil {
		return nil
	}
	t.waitOnce.Do(func() {
		t.pair.Remote.Close()
		t.recvErr = <-t.received
	})
	return t.recvErr
}

func hostConsole() (console.Console, error) {
	for _, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		if c, err := console.ConsoleFromFile(f); err == nil {
			return c, nil
		}
	}
	f, err := os.Open("/dev/tty")
	if err != nil {
		return nil, err
	}
	c, err := console.ConsoleFromFile(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// attach waits for the container's terminal and starts copying.
func (t *foregroundTTY) attach() error {
	if err := t.waitConsole(); err != nil {
		return err
	}
	t.attached = true
	if err := t.host.SetRaw(); err != nil {
		return fmt.Errorf("set host terminal raw: %w", err)
	}
	t.relay.Start(os.Stdin, os.Stdout)
	return nil
}

func (t *foregroundTTY) resize() {
	if t == nil || !t.attached {
		return
	}
	_ = t.relay.ResizeFrom(t.host)
}

// Close waits for the container's output to drain and restores the host
// terminal. It is safe on nil and to call twice.
func (t *foregroundTTY) Close() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		if t.attached {
			t.relay.WaitOutput(0)
			t.relay.Close()
		}
		t.pair.Close()
		_ = t.host.Reset()
	})
}
