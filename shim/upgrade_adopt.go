package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/stdio"
)

// bundleOptions are the task options recorded in a bundle (writeOptions);
// the zero options if there are none.
func bundleOptions(bundle string) taskOptions {
	var o taskOptions
	if data, err := os.ReadFile(filepath.Join(bundle, optionsFile)); err == nil {
		_ = json.Unmarshal(data, &o)
	}
	return o
}

// adoptTasks rebuilds the tasks an earlier image handed over, their
// processes' exits taken back. Call it from berth.StartReaperAdopting's
// adopt, before anything is served.
func (s *service) adoptTasks(state *handoverState) error {
	var errs []error
	for _, ts := range state.Tasks {
		t, err := s.adoptTask(ts)
		if err != nil {
			// The others are served still.
			errs = append(errs, fmt.Errorf("adopt task %s: %w", ts.ID, err))
			continue
		}
		s.mu.Lock()
		s.tasks[t.id] = t
		s.mu.Unlock()
	}
	for _, st := range state.Sandboxes {
		sb := &podSandbox{id: st.ID, bundle: st.Bundle, netns: st.Netns,
			files: podFiles{dir: st.Dir, volatile: st.Volatile},
			pid:   st.Pid, createdAt: st.CreatedAt, exit: st.Exit, exited: make(chan struct{})}
		if sb.exit != nil {
			close(sb.exited)
		} else if err := berth.OwnChild(sb.pid, sb.holderExited); err != nil {
			errs = append(errs, fmt.Errorf("adopt pod sandbox %s: %w", st.ID, err))
			continue
		}
		s.mu.Lock()
		s.sandboxes[sb.id] = sb
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, expiry := range state.Pins {
		s.pins[id] = expiry
		time.AfterFunc(time.Until(expiry), s.maybeRetire)
	}
	return errors.Join(errs...)
}

func (s *service) adoptTask(ts taskState) (*task, error) {
	o := bundleOptions(ts.Bundle)
	rt, err := s.runtimeFor(stateRootFor(ts.Bundle, s.namespace, o), o.SystemdCgroup)
	if err != nil {
		return nil, err
	}
	t := &task{id: ts.ID, bundle: ts.Bundle, hostPidNS: ts.HostPidNS, ioOwner: o.ioOwner(), env: s.env(), execs: map[string]*process{}}
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
