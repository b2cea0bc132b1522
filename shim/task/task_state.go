package task

import (
	"context"
	"time"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"google.golang.org/protobuf/types/known/timestamppb"

	berth "github.com/berth-oci/berth/runtime"
)

// state reports a process's status and stdio, as containerd sees them.
func (t *task) state(execID string) (*taskv3.StateResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.processLocked(execID)
	if err != nil {
		return nil, err
	}
	resp := &taskv3.StateResponse{
		ID:       t.id,
		Bundle:   t.bundle,
		Pid:      uint32(p.pid),
		Stdin:    p.paths.Stdin,
		Stdout:   p.paths.Stdout,
		Stderr:   p.paths.Stderr,
		Terminal: p.paths.Terminal,
		ExecID:   execID,
		// A process that has not exited shows the zero time.
		ExitedAt: timestamppb.New(time.Time{}),
	}
	switch p.state {
	case stateStopped, stateDeleted:
		resp.Status = tasktypes.Status_STOPPED
		resp.ExitStatus = p.exit.ContainerdStatus()
		resp.ExitedAt = timestamppb.New(p.exit.ExitedAt)
	case stateCreated:
		resp.Status = tasktypes.Status_CREATED
	case stateExitHeld:
		// Its exit is published once its execs' are.
		resp.Status = tasktypes.Status_RUNNING
	case stateRunning:
		resp.Status = tasktypes.Status_RUNNING
		if p.isInit() {
			st, err := t.c.State()
			if err != nil {
				return nil, err
			}
			if st.Status == berth.Paused {
				resp.Status = tasktypes.Status_PAUSED
			}
		}
	}
	return resp, nil
}

// wait blocks, without the lock, until the process has exited and its
// exit was published, or ctx ends.
func (t *task) wait(ctx context.Context, execID string) (berth.ExitStatus, error) {
	t.mu.Lock()
	p, err := t.processLocked(execID)
	t.mu.Unlock()
	if err != nil {
		return berth.ExitStatus{}, err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return berth.ExitStatus{}, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return *p.exit, nil
}
