package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A reaper is the one collector of every child's exit status in a process
// that manages many containers (the shim). It makes the process a child
// subreaper, reaps with wait4(-1) on SIGCHLD, and routes each exit to the
// container or exec'd process that owns the pid; orphans reparented to the
// process are reaped and dropped.
//
// libcontainer waits for its own bootstrap children (and hooks) while it
// starts a container or an exec, so a reap pass must not run then: spawning
// calls hold spawnMu shared, a reap pass holds it exclusively, and an owned
// pid is registered before the shared hold ends, so no exit is reaped
// before its owner is known.
type reaper struct {
	spawnMu sync.RWMutex
	mu      sync.Mutex
	owners  map[int]*ownedExit
	kick    chan struct{}
}

var activeReaper atomic.Pointer[reaper]

// StartReaper makes this process a child subreaper and the sole reaper of
// its children, for the rest of its life. Containers and processes started
// afterwards have their exits collected by it. A process that starts many
// containers and lives on (a shim) should call it once, early. Afterwards
// nothing else in the process may wait for children: os/exec's Cmd.Wait,
// for one, fails with ECHILD once the reaper has taken the exit.
func StartReaper() error {
	if activeReaper.Load() != nil {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set child subreaper: %w", err)
	}
	r := &reaper{owners: map[int]*ownedExit{}, kick: make(chan struct{}, 1)}
	if !activeReaper.CompareAndSwap(nil, r) {
		return nil
	}
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs, unix.SIGCHLD)
	go r.loop(sigs)
	return nil
}

func (r *reaper) loop(sigs chan os.Signal) {
	for {
		select {
		case <-sigs:
		case <-r.kick:
		}
		r.reapAll()
	}
}

type reapedExit struct {
	pid    int
	status unix.WaitStatus
}

// reapAll collects every exited child, then hands each to its owner.
func (r *reaper) reapAll() {
	var exits []reapedExit
	r.spawnMu.Lock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
		exits = append(exits, reapedExit{pid: pid, status: ws})
	}
	r.spawnMu.Unlock()
	for _, e := range exits {
		r.mu.Lock()
		o := r.owners[e.pid]
		delete(r.owners, e.pid)
		r.mu.Unlock()
		if o != nil {
			o.finish(exitStatusOfWait(e.status))
		}
	}
}

// spawning runs fn, which may start children that libcontainer waits for
// itself, with reaping held off; then it triggers a reap pass for what
// exited meanwhile. Without a reaper it just runs fn.
func spawning(fn func() error) error {
	r := activeReaper.Load()
	if r == nil {
		return fn()
	}
	r.spawnMu.RLock()
	defer func() {
		r.spawnMu.RUnlock()
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}()
	return fn()
}

// register routes pid's exit to o. Call it inside spawning, before the
// child can be reaped.
func (r *reaper) register(pid int, o *ownedExit) {
	r.mu.Lock()
	r.owners[pid] = o
	r.mu.Unlock()
}

func exitStatusOfWait(ws unix.WaitStatus) ExitStatus {
	es := ExitStatus{ExitedAt: time.Now()}
	if ws.Signaled() {
		es.Signal = ws.Signal()
		es.Code = 128 + int(ws.Signal())
	} else {
		es.Code = ws.ExitStatus()
	}
	return es
}
