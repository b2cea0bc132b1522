package shim

import (
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	"google.golang.org/protobuf/types/known/timestamppb"

	berth "github.com/berth-oci/berth/runtime"
)

// handleExit records a process's exit and publishes TaskExit, holding back
// init's until every running exec has exited, as containerd's own shim
// does. It runs on its own goroutine, once per process.
func (s *service) handleExit(t *task, p *process, es berth.ExitStatus) {
	// The process's stdio is read under the lock: Create and Start hold
	// it until the process has its real stdio. Output drains to the
	// client, which then sees EOF, without the lock held.
	t.mu.Lock()
	stdio := p.stdio
	t.mu.Unlock()
	stdio.exited()

	t.mu.Lock()
	defer t.mu.Unlock()
	if p.state == stateDeleted {
		return // a create that failed after its init was spawned
	}
	if !p.isInit() {
		s.publishExit(t, p, es)
		if t.init.state == stateExitHeld && t.runningExecs() == 0 {
			s.publishExit(t, t.init, *t.init.exit)
		}
		return
	}
	if t.hostPidNS && t.c != nil {
		// Without a pid namespace, init's death kills nothing else.
		_ = t.c.Signal(syscall.SIGKILL, true)
	}
	if t.runningExecs() > 0 {
		p.exit = &es
		_ = p.transition(stateExitHeld)
		return
	}
	s.publishExit(t, p, es)
}

// publishExit moves p to stopped and publishes its TaskExit.
func (s *service) publishExit(t *task, p *process, es berth.ExitStatus) {
	p.exit = &es
	_ = p.transition(stateStopped)
	id := p.id
	if p.isInit() {
		id = t.id
		if t.oom != nil {
			// A kill that ended the container is published first.
			t.oom.Sync()
		}
	}
	s.events.publish(topicTaskExit, &eventstypes.TaskExit{
		ContainerID: t.id,
		ID:          id,
		Pid:         uint32(p.pid),
		ExitStatus:  es.ContainerdStatus(),
		ExitedAt:    timestamppb.New(es.ExitedAt),
	})
	close(p.exited)
}
