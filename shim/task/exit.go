package task

import (
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	"google.golang.org/protobuf/types/known/timestamppb"

	berth "github.com/berth-oci/berth/runtime"
)

// onExit is the library's exit callback for p: handleExit on its own
// goroutine, counted in the daemon's exit handlers (a handover waits for
// them).
func (t *task) onExit(p *process) func(berth.ExitStatus) {
	return func(es berth.ExitStatus) {
		t.env.exits.Add(1)
		go func() {
			defer t.env.exits.Done()
			t.handleExit(p, es)
		}()
	}
}

// handleExit records a process's exit and publishes TaskExit, holding back
// init's until every running exec has exited, as containerd's own shim
// does. It runs on its own goroutine, once per process.
func (t *task) handleExit(p *process, es berth.ExitStatus) {
	// The process's stdio is read under the lock: create and start hold
	// it until the process has its real stdio. Output drains to the
	// client, which then sees EOF, without the lock held: the stdio is
	// the process's own from then on, and its drain takes its own lock.
	t.mu.Lock()
	sio := p.stdio
	t.mu.Unlock()
	sio.Exited()

	t.mu.Lock()
	defer t.mu.Unlock()
	if p.state == stateDeleted {
		return // a create that failed after its init was spawned
	}
	if !p.isInit() {
		t.publishExitLocked(p, es)
		if t.init.state == stateExitHeld && t.runningExecsLocked() == 0 {
			t.publishExitLocked(t.init, *t.init.exit)
		}
		return
	}
	if t.hostPidNS && t.c != nil {
		// Without a pid namespace, init's death kills nothing else.
		_ = t.c.Signal(syscall.SIGKILL, true)
	}
	if t.runningExecsLocked() > 0 {
		p.exit = &es
		p.move(stateExitHeld)
		return
	}
	t.publishExitLocked(p, es)
}

// publishExitLocked moves p to stopped and publishes its TaskExit. The
// caller holds t.mu.
func (t *task) publishExitLocked(p *process, es berth.ExitStatus) {
	p.exit = &es
	p.move(stateStopped)
	id := p.id
	if p.isInit() {
		id = t.id
		if t.oom != nil {
			// A kill that ended the container is published first.
			t.oom.Sync()
		}
	}
	t.env.events.Publish(topicTaskExit, &eventstypes.TaskExit{
		ContainerID: t.id,
		ID:          id,
		Pid:         uint32(p.pid),
		ExitStatus:  es.ContainerdStatus(),
		ExitedAt:    timestamppb.New(es.ExitedAt),
	})
	close(p.exited)
}
