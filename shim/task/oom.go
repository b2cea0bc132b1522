package task

import (
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/sirupsen/logrus"
)

// watchOOMLocked publishes TaskOOM for each OOM kill in the container,
// counted against the cgroup's oom_kill counter (runtime.OOMWatch). It
// starts right after create or restore, with t.mu held: init already sits
// in its cgroup. The init's exit syncs the watch first (publishExitLocked),
// so that a kill's TaskOOM comes before the TaskExit, as under
// containerd's runc shim.
func (t *task) watchOOMLocked() {
	id, events := t.id, t.env.events
	w, err := t.c.WatchOOMFunc(func() {
		events.Publish(topicTaskOOM, &eventstypes.TaskOOM{ContainerID: id})
	})
	if err != nil {
		logrus.WithError(err).Warnf("no OOM notifications for %s", t.id)
		return
	}
	t.oom = w
}
