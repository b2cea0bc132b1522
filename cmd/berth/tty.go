package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/containerd/console"

	berth "github.com/berth-oci/berth/runtime"
)

// foregroundTTY connects a foreground container's terminal to berth's own:
// the container's init sends its pty master over a socket pair, and berth
// copies between it and its stdio with the host terminal in raw mode.
type foregroundTTY struct {
	pair   *berth.ConsolePair
	host   console.Console
	master console.Console
	copied sync.WaitGroup
	once   sync.Once
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
	return &foregroundTTY{pair: pair, host: host}, nil
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

// attach receives the container's terminal and starts copying.
func (t *foregroundTTY) attach() error {
	t.pair.Remote.Close()
	f, err := t.pair.Receive()
	if err != nil {
		return err
	}
	master, err := console.ConsoleFromFile(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("container terminal: %w", err)
	}
	if err := console.ClearONLCR(master.Fd()); err != nil {
		master.Close()
		return fmt.Errorf("container terminal: %w", err)
	}
	t.master = master
	if err := t.host.SetRaw(); err != nil {
		return fmt.Errorf("set host terminal raw: %w", err)
	}
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	t.copied.Add(1)
	go func() {
		defer t.copied.Done()
		// Ends with EIO once the container side of the pty is closed.
		if _, err := io.Copy(os.Stdout, master); err != nil && !errors.Is(err, os.ErrClosed) {
			return
		}
	}()
	return nil
}

func (t *foregroundTTY) resize() {
	if t == nil || t.master == nil {
		return
	}
	_ = t.master.ResizeFrom(t.host)
}

// Close waits for the container's output to drain and restores the host
// terminal. It is safe on nil and to call twice.
func (t *foregroundTTY) Close() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		if t.master != nil {
			t.copied.Wait()
			t.master.Close()
		}
		t.pair.Close()
		_ = t.host.Reset()
	})
}
