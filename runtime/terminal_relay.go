package runtime

import (
	"fmt"
	"io"
	"time"

	"github.com/containerd/console"
)

// TerminalRelay copies between a container's pseudo-terminal and a
// caller's streams: input to the terminal, the terminal to output. The
// CLI's foreground run (with the host's terminal) and the shim (with
// containerd's FIFOs) both relay through it.
type TerminalRelay struct {
	master  console.Console
	outDone chan struct{}
}

// ReceiveTerminal waits for the container's init to send its terminal's
// master on pair and returns a relay for it. With clearONLCR the
// terminal's "\n" is no longer written out as "\r\n", as runc does for a
// foreground terminal.
func ReceiveTerminal(pair *ConsolePair, clearONLCR bool) (*TerminalRelay, error) {
	f, err := pair.Receive()
	if err != nil {
		return nil, err
	}
	master, err := console.ConsoleFromFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("container terminal: %w", err)
	}
	if clearONLCR {
		if err := console.ClearONLCR(master.Fd()); err != nil {
			master.Close()
			return nil, fmt.Errorf("container terminal: %w", err)
		}
	}
	return &TerminalRelay{master: master, outDone: make(chan struct{})}, nil
}

// Start copies in to the terminal and the terminal to out, each when set.
// The output copy ends once every holder of the terminal's slave side is
// gone (the read then fails with EIO) or out fails. Call it once.
func (r *TerminalRelay) Start(in io.Reader, out io.Writer) {
	if in != nil {
		go func() { _, _ = io.Copy(r.master, in) }()
	}
	if out == nil {
		close(r.outDone)
		return
	}
	go func() {
		defer close(r.outDone)
		_, _ = io.Copy(out, r.master)
	}()
}

// WaitOutput waits until the output copy has ended, at most timeout when
// timeout is positive, and reports whether it ended.
func (r *TerminalRelay) WaitOutput(timeout time.Duration) bool {
	if timeout <= 0 {
		<-r.outDone
		return true
	}
	select {
	case <-r.outDone:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Resize sets the terminal's window size.
func (r *TerminalRelay) Resize(size console.WinSize) error {
	return r.master.Resize(size)
}

// ResizeFrom gives the terminal the window size of host.
func (r *TerminalRelay) ResizeFrom(host console.Console) error {
	return r.master.ResizeFrom(host)
}

// Close closes the terminal's master, which ends both copies.
func (r *TerminalRelay) Close() error {
	return r.master.Close()
}
