package shim

import (
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/sirupsen/logrus"
)

// watchOOM publishes TaskOOM for each OOM kill in the container, missed
// notifications included (runtime.OOMWatch). It starts right after
// create: init already sits in its cgroup.
func (s *service) watchOOM(t *task) {
	w, err := t.c.WatchOOM()
	if err != nil {
		logrus.WithError(err).Warnf("no OOM notifications for %s", t.id)
		return
	}
	go func() {
		for range w.C {
			s.events.publish(topicTaskOOM, &eventstypes.TaskOOM{ContainerID: t.id})
		}
	}()
}
