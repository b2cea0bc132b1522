package shim

import (
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/sirupsen/logrus"
)

// watchOOM publishes TaskOOM for each OOM kill in the container. It starts
// right after create: init already sits in its cgroup.
func (s *service) watchOOM(t *task) {
	ch, err := t.c.OOM()
	if err != nil {
		logrus.WithError(err).Warnf("no OOM notifications for %s", t.id)
		return
	}
	// Notifications can miss a kill on cgroup v2 (the exit overtakes them);
	// the cgroup's count settles the difference when they end.
	seen, _ := t.c.OOMKillCount()
	go func() {
		for range ch {
			seen++
			s.events.publish(topicTaskOOM, &eventstypes.TaskOOM{ContainerID: t.id})
		}
		n, err := t.c.OOMKillCount()
		for ; err == nil && seen < n; seen++ {
			s.events.publish(topicTaskOOM, &eventstypes.TaskOOM{ContainerID: t.id})
		}
	}()
}
