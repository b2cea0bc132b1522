package stdio

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"syscall"
	"time"

	berth "github.com/berth-oci/berth/runtime"
)

// stdio is the stdio of one container process, built from the paths or
// URIs containerd gives. Directly (see Env), FIFOs and log files are
// handed to the container as they are: no copy goroutine sits between the
// container and the client. Through pipes, the container gets pipes the
// shim copies, which CRIU can checkpoint. A terminal is always copied,
// between its master and the FIFOs.
//
// Lock rule: New and the start that hands it to the container set
// every field before the stdio is shared. After that, mu guards the
// handles that the exit's drain (exited) and requests (CloseIO, Delete)
// close at once: stdinHolder, stdinSource and outHolders; nothing else
// changes. The console has its own lock (consoleCopy).
type Stdio struct {
	io berth.IO
	// owner owns the container's ends (runc options io_uid and io_gid).
	owner Owner
	// pipes gives the container pipes instead of the FIFOs and files.
	pipes bool
	// stdinSource is the stdin FIFO's reader copied into the container's
	// stdin pipe (pipes only); close closes it, ending the copy.
	stdinSource *os.File
	// copies are the copies from pipes to files, where the container
	// cannot be handed the file itself; exited waits for them.
	// pipeCopies are those copies, and stdinCopy the stdin FIFO's into
	// the stdin pipe: set before the stdio is shared, for a handover.
	copies     sync.WaitGroup
	pipeCopies []*pipeCopy
	stdinCopy  *pipeCopy

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

// Owner is who owns the container's ends of its stdio: the FIFOs (their
// inodes) and the pipes. A process whose root is mapped to another host
// uid (a user namespace) can then reopen them through /proc/self/fd, as
// with containerd's runc shim. The zero value, root, changes nothing.
type Owner struct{ UID, GID uint32 }

func (o Owner) isRoot() bool { return o.UID == 0 && o.GID == 0 }

// chown gives f to the owner.
func (o Owner) chown(f *os.File) error {
	if o.isRoot() {
		return nil
	}
	if err := f.Chown(int(o.UID), int(o.GID)); err != nil {
		return fmt.Errorf("give %s to io_uid %d, io_gid %d: %w", f.Name(), o.UID, o.GID, err)
	}
	return nil
}

// Config is how a task's processes get their stdio.
type Config struct {
	// ID and Namespace are the task's, for a binary:// logger.
	ID, Namespace string
	// Owner owns the container's ends (runc's io_uid and io_gid).
	Owner Owner
	// Pipes gives the container pipes (see Env).
	Pipes bool
}

// New opens a process's stdio from its paths.
func New(paths Paths, cfg Config) (_ *Stdio, err error) {
	s := &Stdio{owner: cfg.Owner, pipes: cfg.Pipes}
	stdin, stdout, stderr := paths.Stdin, paths.Stdout, paths.Stderr
	defer func() {
		if err != nil {
			s.CloseContainerSide()
			s.Close()
		}
	}()
	if paths.Terminal {
		s.terminal, err = newConsoleCopy()
		if err != nil {
			return nil, err
		}
		s.io.ConsoleSocket = s.terminal.pair.Remote
		return s, nil
	}
	if stdin != "" && cfg.Pipes {
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
		err = s.startLogger(u, cfg.ID, cfg.Namespace)
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

// openContainerSide opens a file for the container and remembers to close
// the shim's copy after start.
func (s *Stdio) openContainerSide(path string, flag int) (*os.File, error) {
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
func (s *Stdio) openOutput(path string) (*os.File, error) {
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
func (s *Stdio) pipeTo(dst *os.File, closeDst io.Closer) (*os.File, error) {
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
	s.pipeCopies = append(s.pipeCopies, startPipeCopy(r, dst, dst, closeDst, s.copies.Done))
	return w, nil
}

// pipeStdin gives the container the read end of a pipe fed from the stdin
// FIFO. The shim holds a writer of the FIFO (CloseIO closes it), so the
// container sees EOF once the client's writer and the shim's are gone.
func (s *Stdio) pipeStdin(path string) error {
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
	s.stdinCopy = startPipeCopy(src, w, w, w, nil)
	return nil
}

// closeContainerSide closes the shim's copies of the container's ends.
func (s *Stdio) CloseContainerSide() {
	for _, f := range s.containerSide {
		f.Close()
	}
	s.containerSide = nil
	if s.terminal != nil && s.terminal.pair != nil {
		s.terminal.pair.Remote.Close()
	}
}

// closeStdin is CloseIO: drop the shim's writer so the container sees EOF
// once the client's writer is gone too.
func (s *Stdio) CloseStdin() {
	if s == nil {
		return
	}
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

// exitDrainTimeout bounds the drain of a process's output after its exit,
// the terminal's and the pipes' copies together.
const exitDrainTimeout = 10 * time.Second

// exited is called when the process has exited: output drains to the
// client, within exitDrainTimeout in all, which then sees EOF. A nil
// stdio (an exec that never started) has nothing to drain.
func (s *Stdio) Exited() {
	if s == nil {
		return
	}
	deadline := time.Now().Add(exitDrainTimeout)
	if s.terminal != nil {
		s.terminal.wait(time.Until(deadline))
	}
	waitTimeout(&s.copies, time.Until(deadline))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.outHolders {
		f.Close()
	}
	s.outHolders = nil
}

// close releases everything the shim holds; nil has nothing.
func (s *Stdio) Close() {
	if s == nil {
		return
	}
	s.Exited()
	s.CloseStdin()
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

// IO is what the container's process is given: its stdio files, or the
// console socket of its terminal.
func (s *Stdio) IO() berth.IO { return s.io }

// AttachTerminal starts copying between the process's terminal and its
// stdin and stdout FIFOs, once the process has sent its console; a
// process without a terminal has nothing to attach.
func (s *Stdio) AttachTerminal(stdinPath, stdoutPath string) error {
	if s == nil || s.terminal == nil {
		return nil
	}
	return s.terminal.attach(stdinPath, stdoutPath)
}

// ResizeTerminal resizes the process's terminal; a process without one
// ignores it.
func (s *Stdio) ResizeTerminal(width, height uint32) error {
	if s == nil || s.terminal == nil {
		return nil
	}
	return s.terminal.resize(width, height)
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
