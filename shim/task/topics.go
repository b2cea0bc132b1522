package task

import "google.golang.org/protobuf/proto"

// Event topics, as containerd names them.
const (
	topicTaskCreate      = "/tasks/create"
	topicTaskStart       = "/tasks/start"
	topicTaskExit        = "/tasks/exit"
	topicTaskOOM         = "/tasks/oom"
	topicTaskExecAdded   = "/tasks/exec-added"
	topicTaskExecStarted = "/tasks/exec-started"
	topicTaskPaused      = "/tasks/paused"
	topicTaskResumed     = "/tasks/resumed"
	topicTaskDelete      = "/tasks/delete"
)

// Publisher sends a task's events to containerd, in the order published,
// never blocking on containerd (events.Publisher).
type Publisher interface {
	Publish(topic string, event proto.Message)
}
