package task

import (
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/stdio"
)

// InitPidFile records the container's init pid in the bundle, for shim
// delete after a crashed daemon.
const InitPidFile = "init.pid"

// process is a task's init (id "") or one of its exec'd processes, as the
// shim tracks it for containerd. Its fields are its task's: read and
// written under the task's lock, by the task's methods.
type process struct {
	taskID string
	id     string
	state  processState
	spec   *specs.Process // exec only
	// paths are where containerd wants its stdio, known from Create or
	// Exec on.
	paths stdio.Paths
	// stdio is the process's open stdio: nil for an exec not yet started.
	// The exit handler reads it under the lock, so it sees the real one:
	// start holds the lock until it is set.
	stdio *stdio.Stdio
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

// taskEnv is what a task takes from the daemon serving it.
type taskEnv struct {
	events    Publisher
	namespace string
	// stdioPipes gives containers pipes rather than the FIFOs and files
	// themselves (StdioEnv).
	stdioPipes bool
	// exits counts the exit handlers running (onExit).
	exits *sync.WaitGroup
}

// task is one container served by this shim, with its processes. Each of
// its methods takes its lock for as long as it needs it; none returns with
// the lock held.
//
// Lock order: t.mu comes first. Under it, and never the other way round,
// the task takes the locks of what it owns or calls:
//   - its processes' stdio (stdio.mu: closeStdin, the exit's drain);
//   - the runtime Container's (kill, pause, update, exec, delete);
//   - the OOM watch's (publishExitLocked's Sync, which publishes under it);
//   - the event publisher's (every publish).
//
// None of these calls back into a task, so none of their holders waits
// for t.mu. The daemon's own lock (service.mu) is never held while t.mu is
// taken: the service looks a task up, releases its lock, then calls it.
type task struct {
	// Set when the task is made, never changed: read without the lock.
	id        string
	bundle    string
	hostPidNS bool
	// ioOwner owns the stdio ends of the task's processes, execs too.
	ioOwner stdio.Owner
	env     taskEnv

	mu sync.Mutex
	// The fields below are under mu, and so is every field of the
	// processes in init and execs.
	c     *berth.Container
	init  *process
	execs map[string]*process
	// oom reports the container's OOM kills; nil if the watch could not
	// start.
	oom *berth.OOMWatch
	// restore is set for a task created from a checkpoint until start
	// restores it; c is nil until then.
	restore *pendingRestore
}

// containerLocked returns the task's container, or says that op needs the
// task started: a task created from a checkpoint has none before that.
// The caller holds t.mu.
func (t *task) containerLocked(op string) (*berth.Container, error) {
	if t.c == nil {
		return nil, fmt.Errorf("task %s is created from a checkpoint and restored at start: %s needs it started: %w", t.id, op, errdefs.ErrFailedPrecondition)
	}
	return t.c, nil
}

// processLocked returns the init (execID "") or an exec, or NotFound. The
// caller holds t.mu.
func (t *task) processLocked(execID string) (*process, error) {
	if execID == "" {
		return t.init, nil
	}
	if p, ok := t.execs[execID]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("exec %s in task %s: %w", execID, t.id, errdefs.ErrNotFound)
}

// runningExecsLocked counts the execs that have started and not exited.
// The caller holds t.mu.
func (t *task) runningExecsLocked() int {
	n := 0
	for _, p := range t.execs {
		if p.state == stateRunning {
			n++
		}
	}
	return n
}

// stdioConfig is how the task's processes get their stdio.
func (t *task) stdioConfig() stdio.Config {
	return stdio.Config{ID: t.id, Namespace: t.env.namespace, Owner: t.ioOwner, Pipes: t.env.stdioPipes}
}

// initPid is the init's pid: 0 before it exists (a restore not started).
func (t *task) initPid() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.init.pid
}
