package stdio

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
)

// consoleCopy relays between a process's pseudo-terminal and its FIFOs
// with two pipeCopies (stdin FIFO to the master, the master to the stdout
// FIFO), which park for an upgrade like the pipes' copies. The master is
// non-blocking, so that a read deadline or a close ends a read under way.
// Its lock, closeMu, guards the handles that the exit's drain (wait) and
// requests (CloseIO, Delete) close at once; the rest is set before it is
// shared (attach runs under the task's lock, before any request or exit
// can reach it) and not changed after.
type consoleCopy struct {
	pair *berth.ConsolePair // nil for one handed over by an earlier image
	// master is the terminal's master, non-blocking; in and out copy
	// stdin to it and it to the stdout FIFO, each when set; outDone is
	// closed once the output copy has ended.
	master  *os.File
	in, out *pipeCopy
	outDone chan struct{}

	closeMu sync.Mutex
	stdin   *os.File
	stdout  *os.File
}

func newConsoleCopy() (*consoleCopy, error) {
	pair, err := berth.NewConsolePair()
	if err != nil {
		return nil, err
	}
	return &consoleCopy{pair: pair}, nil
}

// attach receives the master from the container's init and starts the
// copies. containerd's clients set their own terminal raw, so ONLCR stays
// on, as under containerd's runc shim.
func (c *consoleCopy) attach(stdinPath, stdoutPath string) error {
	received, err := c.pair.Receive()
	if err != nil {
		return err
	}
	c.master, err = nonBlocking(received)
	received.Close()
	if err != nil {
		return fmt.Errorf("container terminal: %w", err)
	}
	if stdinPath != "" {
		// Read and write: no EOF while the client's writer comes and
		// goes; CloseIO closes it. Non-blocking, so it can park.
		if c.stdin, err = os.OpenFile(stdinPath, os.O_RDWR|unix.O_NONBLOCK, 0); err != nil {
			return fmt.Errorf("open stdin %s: %w", stdinPath, err)
		}
	}
	if stdoutPath != "" {
		if c.stdout, err = os.OpenFile(stripFifo(stdoutPath), os.O_RDWR, 0); err != nil {
			return fmt.Errorf("open stdout %s: %w", stdoutPath, err)
		}
	}
	c.start()
	return nil
}

// nonBlocking returns a non-blocking duplicate of f, which the runtime's
// poller serves (f stays as it was for its own holder).
func nonBlocking(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var dupErr error
	if err := rc.Control(func(raw uintptr) {
		if fd, dupErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 3); dupErr == nil {
			dupErr = unix.SetNonblock(fd, true)
		}
	}); err != nil {
		return nil, err
	}
	if dupErr != nil {
		if fd > 0 {
			unix.Close(fd)
		}
		return nil, dupErr
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// start starts the copies of the handles set.
func (c *consoleCopy) start() {
	c.outDone = make(chan struct{})
	if c.stdin != nil {
		c.in = startPipeCopy(c.stdin, c.master, c.master, nil, nil)
	}
	if c.stdout == nil {
		close(c.outDone)
		return
	}
	c.out = startPipeCopy(c.master, c.stdout, c.stdout, nil, func() { close(c.outDone) })
}

// resize sets the terminal's window size.
func (c *consoleCopy) resize(width, height uint32) error {
	if c.master == nil {
		return nil
	}
	rc, err := c.master.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(width), Row: uint16(height)})
	}); err != nil {
		return err
	}
	return ioErr
}

func (c *consoleCopy) closeStdin() {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.stdin != nil {
		c.stdin.Close() // ends the input copy
		c.stdin = nil
	}
}

// wait waits up to timeout for the terminal's output to drain (the output
// copy ends once every holder of the slave side is gone: the master's
// read fails with EIO), then closes the stdout FIFO.
func (c *consoleCopy) wait(timeout time.Duration) {
	if c.outDone == nil {
		return
	}
	select {
	case <-c.outDone:
	case <-time.After(timeout):
	}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.stdout != nil {
		c.stdout.Close()
		c.stdout = nil
	}
}

func (c *consoleCopy) close() {
	c.closeStdin()
	if c.master != nil {
		c.master.Close() // ends the output copy
	}
	if c.pair != nil {
		c.pair.Close()
	}
}

// copies are the console's running copies, for an upgrade to park.
func (c *consoleCopy) copies() []*pipeCopy {
	var out []*pipeCopy
	for _, p := range []*pipeCopy{c.in, c.out} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}
