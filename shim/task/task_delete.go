package task

import (
	"context"
	"errors"
	"path/filepath"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/types/known/timestamppb"

	berth "github.com/berth-oci/berth/runtime"
)

// deleted is what a deleted process leaves for containerd.
type deleted struct {
	pid    int
	status berth.ExitStatus
	// isInit: the task itself is gone; the daemon forgets it.
	isInit bool
}

// delete deletes a stopped (or never started) process. Deleting the init
// deletes the container, unmounts its rootfs and publishes TaskDelete.
func (t *task) delete(ctx context.Context, execID string) (deleted, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, err := t.processLocked(execID)
	if err != nil {
		return deleted{}, err
	}
	if err := p.canDelete(); err != nil {
		return deleted{}, err
	}
	d := deleted{pid: p.pid, isInit: p.isInit()}
	if p.exit != nil {
		d.status = *p.exit
	}
	if !p.isInit() {
		delete(t.execs, p.id)
		p.stdio.Close()
		p.move(stateDeleted)
		return d, nil
	}
	// A task created from a checkpoint and never started has no container.
	if t.c != nil {
		if err := t.c.Delete(ctx, true); err != nil && !errors.Is(err, berth.ErrNotFound) {
			return deleted{}, err
		}
	}
	p.stdio.Close()
	p.move(stateDeleted)
	if err := berth.UnmountRootfs(filepath.Join(t.bundle, "rootfs")); err != nil {
		logrus.WithError(err).Warnf("unmount rootfs of %s", t.id)
	}
	t.env.events.Publish(topicTaskDelete, &eventstypes.TaskDelete{
		ContainerID: t.id,
		ID:          t.id,
		Pid:         uint32(p.pid),
		ExitStatus:  d.status.ContainerdStatus(),
		ExitedAt:    timestamppb.New(d.status.ExitedAt),
	})
	return d, nil
}
