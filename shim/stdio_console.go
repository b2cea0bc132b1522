package shim

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/containerd/console"

	berth "github.com/berth-oci/berth/runtime"
)

// consoleCopy relays between a process's pseudo-terminal and its FIFOs,
// through the runtime's TerminalRelay; it owns the FIFOs' handles. Its
// lock, closeMu, guards the two handles, which the exit's drain (wait) and
// requests (CloseIO, Delete) close at once; pair and relay are set before
// it is shared (attach runs under the task's lock, before any request or
// exit can reach it) and not changed after.
type consoleCopy struct {
	pair    *berth.ConsolePair
	relay   *berth.TerminalRelay
	stdin   *os.File
	out     *os.File
	closeMu sync.Mutex
}

func newConsoleCopy() (*consoleCopy, error) {
	pair, err := berth.NewConsolePair()
	if err != nil {
		return nil, err
	}
	return &consoleCopy{pair: pair}, nil
}

// attach receives the master from the container's init and starts the
// copies: stdin FIFO to the terminal, the terminal to the stdout FIFO.
// containerd's clients set their own terminal raw, so ONLCR stays on, as
// under containerd's runc shim.
func (c *consoleCopy) attach(stdinPath, stdoutPath string) error {
	relay, err := berth.ReceiveTerminal(c.pair, false)
	if err != nil {
		return err
	}
	c.relay = relay
	if stdinPath != "" {
		if c.stdin, err = os.OpenFile(stdinPath, os.O_RDWR, 0); err != nil {
			return fmt.Errorf("open stdin %s: %w", stdinPath, err)
		}
	}
	if stdoutPath != "" {
		if c.out, err = os.OpenFile(stripFifo(stdoutPath), os.O_RDWR, 0); err != nil {
			return fmt.Errorf("open stdout %s: %w", stdoutPath, err)
		}
	}
	var in io.Reader
	if c.stdin != nil {
		in = c.stdin
	}
	var out io.Writer
	if c.out != nil {
		out = c.out
	}
	relay.Start(in, out)
	return nil
}

func (c *consoleCopy) resize(width, height uint32) error {
	if c.relay == nil {
		return nil
	}
	return c.relay.Resize(console.WinSize{Width: uint16(width), Height: uint16(height)})
}

func (c *consoleCopy) closeStdin() {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.stdin != nil {
		c.stdin.Close()
		c.stdin = nil
	}
}

// wait waits up to timeout for the terminal's output to drain, then
// closes the stdout FIFO.
func (c *consoleCopy) wait(timeout time.Duration) {
	if c.relay == nil {
		return
	}
	c.relay.WaitOutput(timeout)
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.out != nil {
		c.out.Close()
		c.out = nil
	}
}

func (c *consoleCopy) close() {
	c.closeStdin()
	if c.relay != nil {
		c.relay.Close()
	}
	c.pair.Close()
}
