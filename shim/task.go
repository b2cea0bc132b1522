package shim

import (
	"fmt"
	"sync"

	"github.com/containerd/errdefs"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	berth "github.com/berth-oci/berth/runtime"
)

// process is a task's init (id "") or one of its exec'd processes, as the
// shim tracks it for containerd. Every field is read and written under the
// task's lock.
type process struct {
	taskID   string
	id       string
	state    processState
	spec     *specs.Process // exec only
	terminal bool
	// stdio is the process's stdio; for an exec not yet started, only
	// its paths. The exit handler reads it under the lock, so it sees the
	// real one: Start holds the lock until it is set.
	stdio *stdio
	rp    *berth.Process // exec only, once started
	pid   int
	// exit is how the process ended, set once its exit is handled (held
	// or published).
	exit   *berth.ExitStatus
	exited chan struct{} // closed once the exit is published
}

func newProcess(taskID, id string) *process {
	return &process{taskID: taskID, id: id, exited: make(chan struct{})}
}

func (p *process) isInit() bool { return p.id == "" }

// name is the task id, with /<exec id> for an exec.
func (p *process) name() string {
	if p.isInit() {
		return p.taskID
	}
	return p.taskID + "/" + p.id
}

// task is one container served by this shim.
type task struct {
	mu        sync.Mutex
	id        string
	bundle    string
	c         *berth.Container
	init      *process
	execs     map[string]*process
	hostPidNS bool
	// ioOwner owns the stdio ends of the task's processes, execs too.
	ioOwner ioOwner
	// oom reports the container's OOM kills; nil if the watch could not
	// start.
	oom *berth.OOMWatch
	// restore is set for a task created from a checkpoint until Start
	// restores it; c is nil until then.
	restore *pendingRestore
}

// container returns the task's container, or says that op needs the task
// started: a task created from a checkpoint has none before that.
func (t *task) container(op string) (*berth.Container, error) {
	if t.c == nil {
		return nil, fmt.Errorf("task %s is created from a checkpoint and restored at start: %s needs it started: %w", t.id, op, errdefs.ErrFailedPrecondition)
	}
	return t.c, nil
}

func (t *task) process(execID string) (*process, bool) {
	if execID == "" {
		return t.init, true
	}
	p, ok := t.execs[execID]
	return p, ok
}

// runningExecs counts the execs that have started and not exited.
func (t *task) runningExecs() int {
	n := 0
	for _, p := range t.execs {
		if p.state == stateRunning {
			n++
		}
	}
	return n
}
