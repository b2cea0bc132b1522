package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Start starts a created container: its init execs the spec's process.
func (c *Container) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return opError("start", c.ID(), err)
	}
	s, err := c.status()
	if err != nil {
		return opError("start", c.ID(), err)
	}
	if err := requireStatus("start", s, startStatuses...); err != nil {
		return opError("start", c.ID(), err)
	}
	if err := c.lc.Exec(); err != nil {
		return opError("start", c.ID(), classify(err))
	}
	return nil
}

// Signal sends sig to the container's init, or with all to every process in
// the container. With all, a stopped container has no process to signal
// and that is not an error (runc's kill --all); without it, signalling a
// stopped container is ErrWrongState.
func (c *Container) Signal(sig syscall.Signal, all bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if all {
		err = c.signalAll(sig)
		if errors.Is(err, ErrWrongState) {
			err = nil // a stopped container has no process to signal
		}
	} else {
		err = c.lc.Signal(sig)
	}
	if err != nil {
		return fmt.Errorf("signal %s with %s: %w", c.ID(), signalName(sig), classify(err))
	}
	return nil
}

// signalName names sig for messages: SIGKILL, or its number when it has
// no name (0, the real-time signals).
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(sig))
}

// signalAll signals every process of the container's cgroup, frozen so
// that none can fork away meanwhile.
func (c *Container) signalAll(sig syscall.Signal) error {
	s, err := c.status()
	if err != nil {
		return err
	}
	if err := requireStatus("signal all", s, signalAllStatuses...); err != nil {
		return err
	}
	if s == Running {
		if err := c.lc.Pause(); err == nil {
			defer func() { _ = c.lc.Resume() }()
		}
	}
	pids, err := c.lc.Processes()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("kill %d: %w", pid, err)
		}
	}
	if sig == unix.SIGKILL && s == Paused {
		// A frozen process on cgroup v1 dies only once thawed.
		return c.lc.Resume()
	}
	return nil
}

// stopTimeout bounds how long Delete with force waits for init to die.
const stopTimeout = 10 * time.Second

// Delete removes a container: its cgroup, state directory and, if still
// created, its init. A running or paused container is refused unless force,
// which kills it first.
func (c *Container) Delete(ctx context.Context, force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.delete(ctx, force); err != nil {
		return opError("delete", c.ID(), err)
	}
	return nil
}

func (c *Container) delete(ctx context.Context, force bool) error {
	s, err := c.status()
	if err != nil {
		return err
	}
	if err := requireStatus("delete", s, deleteStatuses...); err != nil {
		if !force {
			return errorf(ErrWrongState, "container is %s: stop it first, or delete with force", s)
		}
		if err := c.kill(ctx); err != nil {
			return err
		}
	}
	// Destroy runs poststop hooks, children libcontainer waits for itself.
	if err := spawning(c.lc.Destroy); err != nil {
		return classify(err)
	}
	c.reap(ctx)
	if o, ok := c.init.(*ownedExit); ok {
		disown(c.rt.stateDir(c.ID()), o)
	}
	return nil
}

// kill sends SIGKILL to init and waits for the container to stop.
func (c *Container) kill(ctx context.Context) error {
	if err := c.lc.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
		return classify(err)
	}
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	for {
		if s, err := c.lc.Status(); err != nil || s == libcontainer.Stopped {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("init still running after SIGKILL: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// reap collects init's exit if this process owns it, so no zombie is left.
func (c *Container) reap(ctx context.Context) {
	if o, ok := c.init.(*ownedExit); ok {
		ctx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		_, _ = o.wait(ctx)
	}
}

// Delete removes the container with the given id (see Container.Delete).
// What a create that died left (its cgroups and their processes, a state
// directory without a readable state) is removed too. With force, deleting
// an id that does not exist succeeds, as runc's delete --force does, so a
// cleanup can be repeated; without it, the error is ErrNotFound.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	if err := ValidateID(id); err != nil {
		return opError("delete", id, err)
	}
	// A create that died left a record of what it made: clear that first.
	// One still running is left to finish (ErrExists).
	cleared, err := r.clearDeadCreate(id)
	if err != nil && !errors.Is(err, ErrExists) {
		return opError("delete", id, err)
	}
	c, err := r.Load(id)
	if errors.Is(err, ErrNotFound) {
		dir := r.stateDir(id)
		if _, serr := os.Lstat(dir); serr == nil {
			if rerr := os.RemoveAll(dir); rerr != nil {
				return fmt.Errorf("delete %s: remove leftover %s: %w", id, dir, rerr)
			}
			return nil
		} else if !errors.Is(serr, fs.ErrNotExist) {
			return opError("delete", id, serr)
		}
		if force || cleared {
			return nil
		}
	}
	if err != nil && force && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalid) {
		// A state that cannot be read (corrupt, truncated): the record
		// kept beside it still finds the container's cgroups.
		if cerr := r.clearUnreadable(id); cerr != nil {
			return opError("delete", id, fmt.Errorf("%w; %w", err, cerr))
		}
		return nil
	}
	if err != nil {
		return opError("delete", id, err)
	}
	return c.Delete(ctx, force)
}
