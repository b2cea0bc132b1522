package shim

import (
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	berth "github.com/berth-oci/berth/runtime"
)

// process is a task's init (id "") or one of its exec'd processes, as the
// shim tracks it for containerd.
type process struct {
	id       string
	spec     *specs.Process // exec only
	terminal bool
	stdio    *stdio
	rp       *berth.Process // exec only, once started
	pid      int
	started  bool
	exit     *berth.ExitStatus // set once the exit is handled
	exited   chan struct{}     // closed then
}

func newProcess(id string) *process {
	return &process{id: id, exited: make(chan struct{})}
}

func (p *process) running() bool { return p.started && p.exit == nil }

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
	// initExitHeld is set while init has exited but execs have not: its
	// TaskExit waits for theirs, as containerd's own shim does.
	initExitHeld *berth.ExitStatus
}

func (t *task) process(execID string) (*process, bool) {
	if execID == "" {
		return t.init, true
	}
	p, ok := t.execs[execID]
	return p, ok
}

func (t *task) runningExecs() int {
	n := 0
	for _, p := range t.execs {
		if p.running() {
			n++
		}
	}
	return n
}

// zeroTime is what containerd shows as the exit time of a running process.
var zeroTime = time.Time{}
