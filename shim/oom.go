package shim

import (
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/sirupsen/logrus"
)

// watchOOM publishes TaskOOM for each OOM kill in the container, counted
// against the cgroup's oom_kill counter (runtime.OOMWatch). It starts right
// after create, with t.mu held: init already sits in its cgroup. The init's
// exit syncs the watch first (publishExit), so that a kill's TaskOOM comes
// before the TaskExit, as under containerd's runc shim.
func (s *service) watchOOM(t *task) {
	id := t.id
	w, err := t.c.WatchOOMFunc(func() {
		s.events.publish(topicTaskOOM, &eventstypes.TaskOOM{ContainerID: id})
	})
	if err != nil {
		logrus.WithError(err).Warnf("no OOM notifications for %s", t.id)
		return
	}
	t.oom = w
}
