package shim

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/console"

	berth "github.com/berth-oci/berth/runtime"
)

// stdio is the stdio of one container process, built from the paths or
// URIs containerd gives. Directly (see StdioEnv), FIFOs and log files are
// handed to the container as they are: no copy goroutine sits between the
// container and the client. Through pipes, the container gets pipes the
// shim copies, which CRIU can checkpoint. A terminal is always copied,
// between its master and the FIFOs.
type stdio struct {
	paths struct{ stdin, stdout, stderr string }
	io    berth.IO
	// owner owns the container's ends (runc options io_uid and io_gid).
	owner ioOwner
	// pipes gives the container pipes instead of the FIFOs and files.
	pipes bool
	// stdinSource is the stdin FIFO's reader copied into the container's
	// stdin pipe (pipes only); close closes it, ending the copy.
	stdinSource *os.File
	// copies are the copies from pipes to files, where the container
	// cannot be handed the file itself; exited waits for them.
	copies sync.WaitGroup

	// containerSide are the shim's copies of the container's ends, closed
	// once the process has started.
	containerSide []*os.File
	// stdinHolder is the shim's write end of the stdin FIFO: a detaching
	// client does not cause EOF; CloseIO closes it.
	stdinHolder *os.File
	// outHolders keep the output FIFOs open for reading and writing, so
	// that the container never gets EPIPE while no client reads. They are
	// closed when the process exits, so the client then sees EOF.
	outHolders []*os.File

	terminal *consoleCopy
	mu       sync.Mutex
}

// ioOwner is who owns the container's ends of its stdio: the FIFOs (their
// inodes) and the pipes. A process whose root is mapped to another host
// uid (a user namespace) can then reopen them through /proc/self/fd, as
// with containerd's runc shim. The zero value, root, changes nothing.
type ioOwner struct{ uid, gid uint32 }

func (o ioOwner) isRoot() bool { return o.uid == 0 && o.gid == 0 }

// chown gives f to the owner.
func (o ioOwner) chown(f *os.File) error {
	if o.isRoot() {
		return nil
	}
	if err := f.Chown(int(o.uid), int(o.gid)); err != nil {
		return fmt.Errorf("give %s to io_uid %d, io_gid %d: %w", f.Name(), o.uid, o.gid, err)
	}
	return nil
}

// newStdio prepares a process's stdio. terminal selects a pseudo-terminal;
// owner owns the container's ends; pipes gives the container pipes (see
// StdioEnv).
func newStdio(id, namespace, stdin, stdout, stderr string, terminal bool, owner ioOwner, pipes bool) (_ *stdio, err error) {
	s := &stdio{owner: owner, pipes: pipes}
	s.paths.stdin, s.paths.stdout, s.paths.stderr = stdin, stdout, stderr
	defer func() {
		if err != nil {
			s.closeContainerSide()
			s.close()
		}
	}()
	if terminal {
		s.terminal, err = newConsoleCopy()
		if err != nil {
			return nil, err
		}
		s.io.ConsoleSocket = s.terminal.pair.Remote
		return s, nil
	}
	if stdin != "" && pipes {
		if err := s.pipeStdin(stdin); err != nil {
			return nil, err
		}
	} else if stdin != "" {
		if s.stdinHolder, err = os.OpenFile(stdin, os.O_RDWR, 0); err != nil {
			return nil, fmt.Errorf("open stdin %s: %w", stdin, err)
		}
		if s.io.Stdin, err = s.openContainerSide(stdin, os.O_RDONLY); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(stdout)
	if err != nil {
		return nil, fmt.Errorf("stdout %q: %w", stdout, err)
	}
	switch u.Scheme {
	case "file":
		err = s.openLogFile(u.Path)
	case "binary":
		err = s.startLogger(u, id, namespace)
	case "", "fifo":
		if s.io.Stdout, err = s.openOutput(stripFifo(stdout)); err == nil {
			s.io.Stderr, err = s.openOutput(stripFifo(stderr))
		}
	default:
		err = fmt.Errorf("stdout %q: unsupported scheme %q (use a FIFO path, file:// or binary://)", stdout, u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func stripFifo(p string) string {
	if u, err := url.Parse(p); err == nil && u.Scheme == "fifo" {
		return u.Path
	}
	return p
}

// openContainerSide opens a file for the container and remembers to close
// the shim's copy after start.
func (s *stdio) openContainerSide(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.containerSide = append(s.containerSide, f)
	if err := s.owner.chown(f); err != nil {
		return nil, err
	}
	return f, nil
}

// openOutput opens an output FIFO: a read-write holder for the shim (it
// never blocks and keeps a reader present), then the container's writer.
func (s *stdio) openOutput(path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	holder, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.outHolders = append(s.outHolders, holder)
	if s.pipes {
		return s.pipeTo(holder, nil)
	}
	return s.openContainerSide(path, os.O_WRONLY)
}

// pipeTo gives the container the write end of a pipe whose output the shim
// copies to dst; closeDst, if set, is closed once the copy ends.
func (s *stdio) pipeTo(dst io.Writer, closeDst io.Closer) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.containerSide = append(s.containerSide, w)
	if err := s.owner.chown(w); err != nil {
		r.Close()
		return nil, err
	}
	s.copies.Add(1)
	go func() {
		defer s.copies.Done()
		_, _ = io.Copy(dst, r)
		r.Close()
		if closeDst != nil {
			closeDst.Close()
		}
	}()
	return w, nil
}

// pipeStdin gives the container the read end of a pipe fed from the stdin
// FIFO. The shim holds a writer of the FIFO (CloseIO closes it), so the
// container sees EOF once the client's writer and the shim's are gone.
func (s *stdio) pipeStdin(path string) error {
	src, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open stdin %s: %w", path, err)
	}
	s.stdinSource = src
	if s.stdinHolder, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil {
		return fmt.Errorf("open stdin %s: %w", path, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	s.containerSide = append(s.containerSide, r)
	if err := s.owner.chown(r); err != nil {
		w.Close()
		return err
	}
	s.io.Stdin = r
	go func() {
		_, _ = io.Copy(w, src)
		w.Close()
	}()
	return nil
}

func (s *stdio) openLogFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	if s.owner.isRoot() && !s.pipes {
		s.containerSide = append(s.containerSide, f)
		s.io.Stdout, s.io.Stderr = f, f
		return nil
	}
	// Through a pipe, copied into the file: the log file stays root's, and
	// CRIU can dump a pipe.
	w, err := s.pipeTo(f, f)
	if err != nil {
		f.Close()
		return err
	}
	s.io.Stdout, s.io.Stderr = w, w
	return nil
}

// startLogger runs a binary:// logging driver: it gets the container's
// stdout on fd 3 and stderr on fd 4, and closes fd 5 when ready.
func (s *stdio) startLogger(u *url.URL, id, namespace string) error {
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 && vs[0] != "" {
			args = append(args, vs[0])
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err == nil {
		if err = s.owner.chown(outW); err == nil {
			err = s.owner.chown(errW)
		}
		if err != nil {
			readyR.Close()
			readyW.Close()
		}
	}
	if err != nil {
		for _, f := range []*os.File{outR, outW, errR, errW} {
			f.Close()
		}
		return err
	}
	s.containerSide = append(s.containerSide, outW, errW)
	s.io.Stdout, s.io.Stderr = outW, errW
	cmd := exec.Command(u.Path, args...)
	cmd.Env = append(os.Environ(), "CONTAINER_ID="+id, "CONTAINER_NAMESPACE="+namespace)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	err = cmd.Start()
	outR.Close()
	errR.Close()
	readyW.Close()
	if err != nil {
		readyR.Close()
		return fmt.Errorf("start logging binary %s: %w", u.Path, err)
	}
	// The daemon's reaper collects the logger's exit; nobody waits here.
	_ = cmd.Process.Release()
	defer readyR.Close()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, readyR); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("logging binary %s not ready after 10s", u.Path)
	}
}

// closeContainerSide closes the shim's copies of the container's ends.
func (s *stdio) closeContainerSide() {
	for _, f := range s.containerSide {
		f.Close()
	}
	s.containerSide = nil
	if s.terminal != nil {
		s.terminal.pair.Remote.Close()
	}
}

// closeStdin is CloseIO: drop the shim's writer so the container sees EOF
// once the client's writer is gone too.
func (s *stdio) closeStdin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stdinHolder != nil {
		s.stdinHolder.Close()
		s.stdinHolder = nil
	}
	if s.terminal != nil {
		s.terminal.closeStdin()
	}
}

// exited is called when the process has exited: output drains to the
// client, which then sees EOF.
func (s *stdio) exited() {
	if s.terminal != nil {
		s.terminal.wait(10 * time.Second)
	}
	waitTimeout(&s.copies, 10*time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.outHolders {
		f.Close()
	}
	s.outHolders = nil
}

// close releases everything the shim holds.
func (s *stdio) close() {
	s.exited()
	s.closeStdin()
	s.mu.Lock()
	if s.stdinSource != nil {
		s.stdinSource.Close() // ends the stdin copy
		s.stdinSource = nil
	}
	s.mu.Unlock()
	if s.terminal != nil {
		s.terminal.close()
	}
}

// consoleCopy relays between a process's pseudo-terminal and its FIFOs,
// through the runtime's TerminalRelay; it owns the FIFOs' handles.
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

// waitTimeout waits for wg, or until timeout has passed.
func waitTimeout(wg *sync.WaitGroup, timeout time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
