package task

import (
	"context"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"

	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/stdio"
)

// start starts the init (execID "") or a created exec, and returns its
// pid. The start event is published before the lock is released, so the
// exit handler (which takes it) can never publish the exit first.
func (t *task) start(ctx context.Context, execID string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.processLocked(execID)
	if err != nil {
		return 0, err
	}
	if err := p.canStart(); err != nil {
		return 0, err
	}
	if p.isInit() {
		return t.startInitLocked(ctx, p)
	}
	return t.startExecLocked(ctx, p)
}

func (t *task) startInitLocked(ctx context.Context, p *process) (int, error) {
	var err error
	if t.restore != nil {
		err = t.restoreLocked(ctx)
	} else {
		err = t.c.Start(ctx)
	}
	if err != nil {
		return 0, err
	}
	p.move(stateRunning)
	t.env.events.Publish(topicTaskStart, &eventstypes.TaskStart{ContainerID: t.id, Pid: uint32(p.pid)})
	return p.pid, nil
}

func (t *task) startExecLocked(ctx context.Context, p *process) (int, error) {
	if err := t.init.canHostExecs(); err != nil {
		return 0, err
	}
	sio, err := stdio.New(p.paths, t.stdioConfig())
	if err != nil {
		return 0, err
	}
	// The exec may exit before this returns: its exit handler waits for
	// t.mu, which is held until p has its real stdio and is running.
	rp, err := t.c.Exec(ctx, p.spec, berth.ExecOpts{
		IO:     sio.IO(),
		OnExit: t.onExit(p),
	})
	sio.CloseContainerSide()
	if err != nil {
		sio.Close()
		return 0, err
	}
	p.stdio, p.rp, p.pid = sio, rp, rp.Pid()
	p.move(stateRunning)
	if p.paths.Terminal {
		if err := sio.AttachTerminal(p.paths.Stdin, p.paths.Stdout); err != nil {
			_ = rp.Signal(syscall.SIGKILL)
			return 0, err
		}
	}
	t.env.events.Publish(topicTaskExecStarted, &eventstypes.TaskExecStarted{ContainerID: t.id, ExecID: p.id, Pid: uint32(p.pid)})
	return p.pid, nil
}
