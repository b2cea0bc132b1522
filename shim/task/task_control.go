package task

import (
	"errors"
	"fmt"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	occgroups "github.com/opencontainers/cgroups"

	"github.com/berth-oci/berth/cgroups"
	berth "github.com/berth-oci/berth/runtime"
)

// kill signals the init (every process of the container with all), or
// an exec.
func (t *task) kill(execID string, sig syscall.Signal, all bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.processLocked(execID)
	if err != nil {
		return err
	}
	if err := p.canSignal(); err != nil {
		return err
	}
	if !p.isInit() {
		return p.rp.Signal(sig)
	}
	if t.c == nil {
		// As runc's kill of a container that does not exist yet.
		return fmt.Errorf("task %s is not restored yet: %w", t.id, errdefs.ErrNotFound)
	}
	if err := t.c.Signal(sig, all); err != nil {
		if errors.Is(err, berth.ErrWrongState) {
			// The init exited before its exit was handled.
			return errFinished(t.id)
		}
		return err
	}
	return nil
}

// taskPid is one process of the container; execID names an exec's.
type taskPid struct {
	pid    int
	execID string
}

// pids lists the container's processes, exec'd ones with their exec id.
func (t *task) pids() ([]taskPid, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return nil, nil // not restored yet: no process
	}
	pids, err := t.c.Processes()
	if err != nil {
		return nil, err
	}
	byPid := map[int]string{}
	for id, p := range t.execs {
		if p.state == stateRunning {
			byPid[p.pid] = id
		}
	}
	out := make([]taskPid, len(pids))
	for i, pid := range pids {
		out[i] = taskPid{pid: pid, execID: byPid[pid]}
	}
	return out, nil
}

// pause freezes the container.
func (t *task) pause() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.containerLocked("pause")
	if err != nil {
		return err
	}
	if err := c.Pause(); err != nil {
		return err
	}
	t.env.events.Publish(topicTaskPaused, &eventstypes.TaskPaused{ContainerID: t.id})
	return nil
}

// resume thaws the container.
func (t *task) resume() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.containerLocked("resume")
	if err != nil {
		return err
	}
	if err := c.Resume(); err != nil {
		return err
	}
	t.env.events.Publish(topicTaskResumed, &eventstypes.TaskResumed{ContainerID: t.id})
	return nil
}

// update changes the container's resources.
func (t *task) update(res *specs.LinuxResources) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.containerLocked("update")
	if err != nil {
		return err
	}
	return c.Update(res)
}

// stats reads the container's cgroup figures, with the memory events of
// a cgroup v2 host.
func (t *task) stats() (*occgroups.Stats, cgroups.MemoryEvents, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var events cgroups.MemoryEvents
	c, err := t.containerLocked("stats")
	if err != nil {
		return nil, events, err
	}
	st, err := c.Stats()
	if err != nil {
		return nil, events, err
	}
	if cgroups.HostMode() == cgroups.V2 {
		var evErr error
		if events, evErr = c.MemoryEvents(); evErr != nil {
			logrus.WithError(evErr).Debugf("stats of %s: no memory events", t.id)
		}
	}
	return st, events, nil
}

// resize resizes a process's terminal; one without a terminal ignores it.
func (t *task) resize(execID string, width, height uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.processLocked(execID)
	if err != nil {
		return err
	}
	if err := p.canResize(); err != nil {
		return err
	}
	if p.finished() {
		return nil // an exited init's terminal: nobody uses it any more
	}
	return p.stdio.ResizeTerminal(width, height)
}

// closeStdin closes the shim's end of a process's stdin.
func (t *task) closeStdin(execID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.processLocked(execID)
	if err != nil {
		return err
	}
	p.stdio.CloseStdin()
	return nil
}
