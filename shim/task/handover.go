package task

import (
	"errors"
	"fmt"
	"time"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/internal/handover"
	"github.com/berth-oci/berth/shim/options"
	"github.com/berth-oci/berth/shim/stdio"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// State is a task as handed over to the daemon's next image.
type State struct {
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
func (t *task) handoverLocked(fds *handover.FDSet) (State, error) {
	if t.restore != nil {
		return State{}, handover.Refused{Why: fmt.Sprintf("task %s is created from a checkpoint and not started", t.id)}
	}
	ts := State{ID: t.id, Bundle: t.bundle, HostPidNS: t.hostPidNS}
	var err error
	if ts.Init, err = t.init.handover(fds); err != nil {
		return State{}, err
	}
	for _, p := range t.execs {
		ps, err := p.handover(fds)
		if err != nil {
			return State{}, err
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

// Handover describes the daemon's tasks for its next image, their stdio
// copies parked; resume undoes the parking. A Create under way refuses
// it.
func (s *Service) Handover(fds *handover.FDSet, deadline time.Time) ([]State, func(), error) {
	s.mu.Lock()
	if len(s.creating) > 0 {
		s.mu.Unlock()
		return nil, func() {}, handover.Refused{Why: "a task is being created"}
	}
	tasks := make([]*task, 0, len(s.tasks))
	for _, t := range s.tasks {
		tasks = append(tasks, t)
	}
	s.mu.Unlock()
	var parked []*task
	resume := func() {
		for _, t := range parked {
			t.resumeCopies()
		}
	}
	var out []State
	for _, t := range tasks {
		parked = append(parked, t)
		ts, err := t.handover(fds, deadline)
		if err != nil {
			return nil, resume, err
		}
		out = append(out, ts)
	}
	return out, resume, nil
}

// handover parks the task's stdio copies and describes it.
func (t *task) handover(fds *handover.FDSet, deadline time.Time) (State, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.processesLocked() {
		if err := p.stdio.ParkCopies(deadline); err != nil {
			return State{}, fmt.Errorf("process %s: %w", p.name(), err)
		}
	}
	return t.handoverLocked(fds)
}

func (t *task) resumeCopies() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.processesLocked() {
		p.stdio.ResumeCopies()
	}
}

// processesLocked are the init and the execs. The caller holds t.mu.
func (t *task) processesLocked() []*process {
	out := []*process{t.init}
	for _, p := range t.execs {
		out = append(out, p)
	}
	return out
}

// Adopt rebuilds, in the daemon's next image, the tasks an earlier one
// handed over, their processes' exits taken back; each holds the daemon
// again. Call it from berth.StartReaperAdopting's adopt, before anything
// is served. A task that cannot be adopted is named in the error; the
// others are served still.
func (s *Service) Adopt(states []State) error {
	var errs []error
	for _, ts := range states {
		t, err := s.adoptTask(ts)
		if err == nil {
			err = s.Keeper.Hold(t.id)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("adopt task %s: %w", ts.ID, err))
			continue
		}
		s.mu.Lock()
		s.tasks[t.id] = t
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (s *Service) adoptTask(ts State) (*task, error) {
	o := options.FromBundle(ts.Bundle)
	rt, err := s.runtimeFor(options.StateRootFor(ts.Bundle, s.Namespace, o), o.SystemdCgroup)
	if err != nil {
		return nil, err
	}
	t := &task{id: ts.ID, bundle: ts.Bundle, hostPidNS: ts.HostPidNS, ioOwner: o.IOOwner(), env: s.env(), execs: map[string]*process{}}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init = t.processFromHandover(ts.Init)
	live := t.init.state == stateCreated || t.init.state == stateRunning
	var onExit func(berth.ExitStatus)
	if live {
		onExit = t.onExit(t.init)
	}
	if t.c, err = rt.Adopt(ts.ID, onExit); err != nil {
		return nil, err
	}
	for _, ps := range ts.Execs {
		p := t.processFromHandover(ps)
		if p.state == stateRunning {
			if p.rp, err = t.c.AdoptExec(p.pid, t.onExit(p)); err != nil {
				return nil, err
			}
		}
		t.execs[p.id] = p
	}
	if live {
		t.watchOOMLocked()
	}
	return t, nil
}

// processFromHandover rebuilds a process of t. The caller holds t.mu.
func (t *task) processFromHandover(ps processHandover) *process {
	p := newProcess(t.id, ps.ID)
	p.state, p.pid, p.exit, p.spec = ps.State, ps.Pid, ps.Exit, ps.Spec
	p.paths = stdio.Paths{Stdin: ps.Stdin, Stdout: ps.Stdout, Stderr: ps.Stderr, Terminal: ps.Terminal}
	if ps.Stdio != nil {
		p.stdio = stdio.FromHandover(ps.Stdio, t.ioOwner)
	}
	if p.state == stateStopped || p.state == stateDeleted {
		close(p.exited) // published by the earlier image
	}
	return p
}
