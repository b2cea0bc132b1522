package runtime

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// The adoption of containers and processes a previous image of this
// process started: a daemon that re-executed itself onto a new binary (the
// shim's in-place upgrade) keeps its pid, so the containers' inits and the
// exec'd processes are still its children, and their exits, reaped or
// not, still its own to collect.

// StartReaperAdopting starts the reaper as StartReaper does, with reaping
// held off until adopt has returned: adopt registers the children this
// process had before it re-executed itself (Adopt, AdoptExec), and an exit
// that came meanwhile waits as a zombie for its owner to be known. Then a
// reap pass collects those exits. It fails if a reaper runs already.
func StartReaperAdopting(adopt func() error) error {
	if activeReaper.Load() != nil {
		return fmt.Errorf("start reaper: %w", errorf(ErrWrongState, "a reaper runs already"))
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set child subreaper: %w", err)
	}
	r := &reaper{owners: map[int]*ownedExit{}, kick: make(chan struct{}, 1)}
	r.spawnMu.RLock()
	if !activeReaper.CompareAndSwap(nil, r) {
		r.spawnMu.RUnlock()
		return fmt.Errorf("start reaper: %w", errorf(ErrWrongState, "a reaper runs already"))
	}
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs, unix.SIGCHLD)
	go r.loop(sigs)
	err := adopt()
	r.spawnMu.RUnlock()
	r.kick <- struct{}{}
	return err
}

// HoldReaping stops the reaper from collecting exits until the returned
// func is called: exits wait as zombies. A daemon about to re-execute
// itself holds it, so that no exit is collected by the image that is going
// away. Without a reaper it holds nothing.
func HoldReaping() (release func()) {
	r := activeReaper.Load()
	if r == nil {
		return func() {}
	}
	r.spawnMu.RLock()
	return func() {
		r.spawnMu.RUnlock()
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// Adopt loads container id, whose init this process started before it
// re-executed itself, and takes its init's exit back: onExit gets it, and
// the container's Wait and Delete see the real status, as for a container
// Create made. Call it from StartReaperAdopting's adopt. A container
// whose init has already been reaped (stopped, its exit known to the
// caller) is loaded with no owner: pass a nil onExit.
func (r *Runtime) Adopt(id string, onExit func(ExitStatus)) (*Container, error) {
	c, err := r.Load(id)
	if err != nil {
		return nil, err
	}
	if onExit == nil {
		return c, nil
	}
	rp := activeReaper.Load()
	if rp == nil {
		return nil, opError("adopt", id, errorf(ErrWrongState, "no reaper: adopt from StartReaperAdopting"))
	}
	pid, err := c.Pid()
	if err != nil {
		return nil, err
	}
	if pid <= 0 {
		return nil, opError("adopt", id, errorf(ErrWrongState, "no init pid"))
	}
	o := &ownedExit{onExit: onExit, byReaper: true, done: make(chan struct{})}
	rp.register(pid, o)
	own(r.stateDir(id), o)
	c.init = o
	return c, nil
}

// AdoptExec takes back a process exec'd into c by this process before it
// re-executed itself: onExit gets its exit. Call it from
// StartReaperAdopting's adopt.
func (c *Container) AdoptExec(pid int, onExit func(ExitStatus)) (*Process, error) {
	rp := activeReaper.Load()
	if rp == nil {
		return nil, opError("adopt exec in", c.ID(), errorf(ErrWrongState, "no reaper: adopt from StartReaperAdopting"))
	}
	if pid <= 0 {
		return nil, opError("adopt exec in", c.ID(), errorf(ErrInvalid, "pid %d", pid))
	}
	o := &ownedExit{onExit: onExit, byReaper: true, done: make(chan struct{})}
	rp.register(pid, o)
	return &Process{c: c, pid: pid, exit: o}, nil
}

// signalPid signals an adopted process by its pid: it is this process's
// child, so the pid stays its own until the reaper collects the exit.
func signalPid(pid int, sig syscall.Signal) error {
	return unix.Kill(pid, sig)
}

// OwnChild routes the exit of pid, a child this process started itself
// (not a container: a helper such as the shim's pod holder), to onExit
// through the reaper. Hold reaping (HoldReaping) from before the child
// starts until OwnChild returns, so that its exit is not collected first;
// a child an earlier image of this process started is owned from
// StartReaperAdopting's adopt.
func OwnChild(pid int, onExit func(ExitStatus)) error {
	rp := activeReaper.Load()
	if rp == nil {
		return errorf(ErrWrongState, "own child %d: no reaper (StartReaper)", pid)
	}
	if pid <= 0 {
		return errorf(ErrInvalid, "own child: pid %d", pid)
	}
	rp.register(pid, &ownedExit{onExit: onExit, byReaper: true, done: make(chan struct{})})
	return nil
}
