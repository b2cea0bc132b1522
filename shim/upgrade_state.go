package shim

import (
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/internal/handover"
	"github.com/berth-oci/berth/shim/stdio"
)

// handoverState is what a daemon hands to the next image of itself
// (upgrade.go), as JSON; the fds it names are inherited across the exec.
type handoverState struct {
	Generation int                  `json:"generation"`
	Listener   int                  `json:"listener"`
	Conns      []connState          `json:"conns"`
	Events     [][]byte             `json:"events,omitempty"`
	Pins       map[string]time.Time `json:"pins,omitempty"`
	Tasks      []taskState          `json:"tasks"`
	Sandboxes  []sandboxState       `json:"sandboxes,omitempty"`
}

// sandboxState is a started pod sandbox as handed over: its holder, a
// child of the daemon's main thread, which the exec keeps.
type sandboxState struct {
	ID        string            `json:"id"`
	Bundle    string            `json:"bundle"`
	Netns     string            `json:"netns"`
	Dir       string            `json:"dir"`
	Volatile  string            `json:"volatile"`
	Pid       int               `json:"pid"`
	CreatedAt time.Time         `json:"createdAt"`
	Exit      *berth.ExitStatus `json:"exit,omitempty"`
}

type connState struct {
	Fd      int      `json:"fd"`
	Requeue [][]byte `json:"requeue,omitempty"`
	Carry   []byte   `json:"carry,omitempty"`
}

type taskState struct {
	ID        string            `json:"id"`
	Bundle    string            `json:"bundle"`
	HostPidNS bool              `json:"hostPidNS"`
	Init      processHandover   `json:"init"`
	Execs     []processHandover `json:"execs,omitempty"`
}

// processHandover is a process as handed over.
type processHandover struct {
	ID     string            `json:"id"`
	State  processState      `json:"state"`
	Pid    int               `json:"pid"`
	Exit   *berth.ExitStatus `json:"exit,omitempty"`
	Spec   *specs.Process    `json:"spec,omitempty"`
	Stdin  string            `json:"stdin,omitempty"`
	Stdout string            `json:"stdout,omitempty"`
	Stderr string            `json:"stderr,omitempty"`
	// Terminal: the process has a terminal (its console is in Stdio).
	Terminal bool         `json:"terminal,omitempty"`
	Stdio    *stdio.State `json:"stdio,omitempty"`
}

// handoverLocked describes the task for the next image, its handles added
// to fds. Its pipe copies must be parked. The caller holds t.mu.
func (t *task) handoverLocked(fds *handover.FDSet) (taskState, error) {
	if t.restore != nil {
		return taskState{}, handover.Refused{Why: fmt.Sprintf("task %s is created from a checkpoint and not started", t.id)}
	}
	ts := taskState{ID: t.id, Bundle: t.bundle, HostPidNS: t.hostPidNS}
	var err error
	if ts.Init, err = t.init.handover(fds); err != nil {
		return taskState{}, err
	}
	for _, p := range t.execs {
		ps, err := p.handover(fds)
		if err != nil {
			return taskState{}, err
		}
		ts.Execs = append(ts.Execs, ps)
	}
	return ts, nil
}

func (p *process) handover(fds *handover.FDSet) (processHandover, error) {
	ps := processHandover{ID: p.id, State: p.state, Pid: p.pid, Exit: p.exit, Spec: p.spec,
		Stdin: p.paths.Stdin, Stdout: p.paths.Stdout, Stderr: p.paths.Stderr, Terminal: p.paths.Terminal}
	if p.stdio != nil && !p.finished() {
		st, err := p.stdio.Handover(fds)
		if err != nil {
			return processHandover{}, fmt.Errorf("process %s: %w", p.name(), err)
		}
		ps.Stdio = st
	}
	return ps, nil
}
