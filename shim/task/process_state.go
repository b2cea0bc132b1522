package task

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/containerd/errdefs"
	"github.com/sirupsen/logrus"
)

// processState is where a process is in its life, as the shim serves it
// to containerd, after the model of containerd's runc shim
// (process/init_state.go). It changes only through transition, under its
// task's lock.
type processState int

const (
	// stateCreated: init created and waiting for Start, or an exec
	// recorded by Exec and not started.
	stateCreated processState = iota
	// stateRunning: started, not yet seen to exit.
	stateRunning
	// stateExitHeld: init has exited while execs still run; its TaskExit
	// waits for theirs, as containerd's own shim does.
	stateExitHeld
	// stateStopped: exited, and the exit published.
	stateStopped
	// stateDeleted: deleted; nothing more happens to it.
	stateDeleted
)

var stateNames = [...]string{"created", "running", "exit held", "stopped", "deleted"}

func (s processState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// transitions are the moves a process may make. A created process can
// stop without running (a created container's init killed) and be deleted
// without running (an exec never started, a created container deleted).
var transitions = map[processState][]processState{
	stateCreated:  {stateRunning, stateStopped, stateDeleted},
	stateRunning:  {stateExitHeld, stateStopped},
	stateExitHeld: {stateStopped},
	stateStopped:  {stateDeleted},
}

// transition moves p to state to, or says why it cannot. The caller holds
// the task's lock. It is the only place p.state changes.
func (p *process) transition(to processState) error {
	if !slices.Contains(transitions[p.state], to) {
		return fmt.Errorf("process %s: %s to %s is not a transition: %w", p.name(), p.state, to, errdefs.ErrFailedPrecondition)
	}
	p.state = to
	return nil
}

// refusedTransitions counts the moves refused where the shim's own logic
// had decided them (move): each is a bug. They are logged, reported by
// the daemon's diagnostics (daemonStats), and fail the tests.
var refusedTransitions atomic.Int64

// move is transition where the caller has already checked the rule (a
// can* method, or the exit path): a refusal is a bug, logged and counted,
// and p stays where it was.
func (p *process) move(to processState) {
	if err := p.transition(to); err != nil {
		refusedTransitions.Add(1)
		logrus.WithError(err).Error("BUG: a process transition the shim decided was refused")
	}
}

// errFinished is the error for a request to a process that has exited:
// NotFound, as containerd expects.
func errFinished(name string) error {
	return fmt.Errorf("process %s already finished: %w", name, errdefs.ErrNotFound)
}

// The rules of which request a process takes in which state, in one place.
// Each returns nil or an errdefs-kinded error naming the process.

// canStart: only a created process starts.
func (p *process) canStart() error {
	return p.require("start", errdefs.ErrFailedPrecondition, stateCreated)
}

// canSignal: a finished process is NotFound, as containerd expects; an
// exec not started cannot be signalled (it has no pid), init can.
func (p *process) canSignal() error {
	if p.finished() {
		return errFinished(p.name())
	}
	if !p.isInit() {
		return p.require("signal", errdefs.ErrFailedPrecondition, stateRunning)
	}
	return nil
}

// canDelete: a process is deleted before it starts or once it stopped.
func (p *process) canDelete() error {
	return p.require("delete", errdefs.ErrFailedPrecondition, stateCreated, stateStopped)
}

// canCheckpoint: only a running init is checkpointed (a paused one too:
// containerd's client pauses the task first).
func (p *process) canCheckpoint() error {
	return p.require("checkpoint", errdefs.ErrFailedPrecondition, stateRunning)
}

// canResize: a terminal is resized while its process may still use it.
// An init's is also taken once it has exited, until it is deleted, and
// ignored (the task resizes nothing): containerd's runc shim resizes an
// init's console in any state, and nerdctl run -t sends a resize as the
// container ends. An exec's, as under the runc shim, is refused then.
func (p *process) canResize() error {
	if p.isInit() {
		return p.require("resize", errdefs.ErrFailedPrecondition, stateCreated, stateRunning, stateExitHeld, stateStopped)
	}
	return p.require("resize", errdefs.ErrFailedPrecondition, stateCreated, stateRunning)
}

// canHostExecs: a container takes new execs, and starts them, until its
// init has exited.
func (p *process) canHostExecs() error {
	return p.require("exec", errdefs.ErrFailedPrecondition, stateCreated, stateRunning)
}

// finished reports whether the process has exited (its exit maybe held).
func (p *process) finished() bool {
	return p.state == stateExitHeld || p.state == stateStopped || p.state == stateDeleted
}

func (p *process) require(op string, kind error, allowed ...processState) error {
	if slices.Contains(allowed, p.state) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = a.String()
	}
	return fmt.Errorf("process %s is %s: %s needs it %s: %w", p.name(), p.state, op, strings.Join(names, " or "), kind)
}

// RefusedTransitions is how many transitions the shim decided and its
// state table refused since the daemon started: bugs, each logged. The
// daemon's diagnostics report it; the tests require 0.
func RefusedTransitions() int64 { return refusedTransitions.Load() }
