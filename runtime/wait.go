package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// ExitStatus is how a container process ended.
type ExitStatus struct {
	// Code is the exit code, 128+signal when killed by a signal, or -1 when
	// the process was not ours to reap and its status is unknown.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
	// ExitedAt is when the exit was seen.
	ExitedAt time.Time
}

// UnknownExitCode is ExitStatus.Code when the status could not be collected.
const UnknownExitCode = -1

// unknownStatus is what a process whose status is unknown reports to a
// caller that takes a byte (runc's exit code, containerd's status): 255,
// never a wrapped -1.
const unknownStatus = 255

// ExitCode is the status as a process's exit code: Code, or 255 when the
// status is unknown. It is what `berth run` and `berth exec` exit with.
func (es ExitStatus) ExitCode() int {
	if es.Code < 0 {
		return unknownStatus
	}
	return es.Code
}

// ContainerdStatus is the status as containerd's task API carries it.
func (es ExitStatus) ContainerdStatus() uint32 { return uint32(es.ExitCode()) }

func exitStatusOf(ps *os.ProcessState) ExitStatus {
	if ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			return exitStatusOfWait(unix.WaitStatus(ws))
		}
	}
	return ExitStatus{Code: UnknownExitCode, ExitedAt: time.Now()}
}

// exitSource yields the exit of one process, once, to any number of waiters.
type exitSource interface {
	wait(ctx context.Context) (ExitStatus, error)
}

// ownedExit collects the exit of a process this process started, once,
// for any number of waiters and an optional callback. With a reaper
// (StartReaper) the reaper delivers it; otherwise a goroutine waits on the
// process, started on the first wait (or at once when there is a callback),
// so an idle container costs no goroutine.
type ownedExit struct {
	proc     *libcontainer.Process
	onExit   func(ExitStatus)
	byReaper bool
	once     sync.Once
	done     chan struct{}
	status   ExitStatus
}

// newOwnedExit starts collecting p's exit. With a reaper it must be called
// inside spawning, so the pid is registered before it can be reaped.
func newOwnedExit(p *libcontainer.Process, onExit func(ExitStatus)) *ownedExit {
	o := &ownedExit{proc: p, onExit: onExit, done: make(chan struct{})}
	if r := activeReaper.Load(); r != nil {
		if pid, err := p.Pid(); err == nil {
			o.byReaper = true
			r.register(pid, o)
			return o
		}
	}
	if onExit != nil {
		o.startWaiting()
	}
	return o
}

func (o *ownedExit) startWaiting() {
	o.once.Do(func() {
		go func() {
			// Wait returns an *exec.ExitError beside the state for a non-zero
			// exit; the state is what matters.
			ps, _ := o.proc.Wait()
			o.finish(exitStatusOf(ps))
		}()
	})
}

func (o *ownedExit) finish(es ExitStatus) {
	o.status = es
	close(o.done)
	if o.onExit != nil {
		o.onExit(es)
	}
}

func (o *ownedExit) wait(ctx context.Context) (ExitStatus, error) {
	if !o.byReaper {
		o.startWaiting()
	}
	select {
	case <-o.done:
		return o.status, nil
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	}
}

// pidfdExit watches a process this process did not start: the exit is seen,
// the status is not.
type pidfdExit struct {
	fd int // -1 when the process had already exited
}

func (p *pidfdExit) wait(ctx context.Context) (ExitStatus, error) {
	if p.fd < 0 {
		return ExitStatus{Code: UnknownExitCode, ExitedAt: time.Now()}, nil
	}
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for {
		if err := ctx.Err(); err != nil {
			return ExitStatus{}, err
		}
		n, err := unix.Poll(fds, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return ExitStatus{}, fmt.Errorf("poll pidfd: %w", err)
		}
		if n > 0 {
			return ExitStatus{Code: UnknownExitCode, ExitedAt: time.Now()}, nil
		}
	}
}

// watch opens a pidfd on the container's init. The status is checked after
// the pidfd is open, so a reused pid cannot be mistaken for init.
func (c *Container) watch() (exitSource, error) {
	st, err := c.lc.State()
	if err != nil {
		return nil, classify(err)
	}
	fd, err := unix.PidfdOpen(st.InitProcessPid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return &pidfdExit{fd: -1}, nil
		}
		return nil, fmt.Errorf("pidfd_open %d: %w", st.InitProcessPid, err)
	}
	if s, err := c.lc.Status(); err != nil || s == libcontainer.Stopped {
		unix.Close(fd)
		return &pidfdExit{fd: -1}, nil
	}
	// The fd lives as long as the Container: it is the handle on init.
	return &pidfdExit{fd: fd}, nil
}

// Wait blocks until the container's init exits and returns how it ended.
// Only the process that created the container learns the exit code; for a
// loaded container the code is UnknownExitCode. Many goroutines may wait.
func (c *Container) Wait(ctx context.Context) (ExitStatus, error) {
	c.mu.Lock()
	if c.init == nil {
		src, err := c.watch()
		if err != nil {
			c.mu.Unlock()
			return ExitStatus{}, opError("wait", c.ID(), err)
		}
		c.init = src
	}
	src := c.init
	c.mu.Unlock()
	es, err := src.wait(ctx)
	if err != nil {
		return ExitStatus{}, opError("wait", c.ID(), err)
	}
	return es, nil
}
