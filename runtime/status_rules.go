package runtime

import (
	"fmt"
	"slices"
	"strings"
)

// StatusError is an operation refused because of the container's status.
// It is ErrWrongState (errors.Is), and carries the operation and the
// status, so that a caller can word it its own way (the CLI as runc).
type StatusError struct {
	Op      string
	Status  Status
	Allowed []Status
}

func (e *StatusError) Error() string {
	names := make([]string, len(e.Allowed))
	for i, a := range e.Allowed {
		names[i] = string(a)
	}
	return fmt.Sprintf("container is %s: %s needs it %s", e.Status, e.Op, strings.Join(names, " or "))
}

// Is makes a StatusError ErrWrongState.
func (e *StatusError) Is(target error) bool { return target == ErrWrongState }

// requireStatus returns a StatusError, naming op and the statuses that
// allow it, unless s is one of allowed.
func requireStatus(op string, s Status, allowed ...Status) error {
	if slices.Contains(allowed, s) {
		return nil
	}
	return &StatusError{Op: op, Status: s, Allowed: allowed}
}

// CanExec says whether a container in status s takes a new process (Exec
// applies the same rule): nil, or a StatusError for op "exec".
func CanExec(s Status, allowPaused bool) error {
	return requireStatus("exec", s, execStatuses(allowPaused)...)
}

// The statuses each operation needs, in one place (unit tested as a
// table in status_rules_test.go).
var (
	// startStatuses: only a created container starts.
	startStatuses = []Status{Created}
	// deleteStatuses: deleting without force takes a container that
	// is not running (Destroy kills a created container's init itself).
	deleteStatuses = []Status{Created, Stopped}
	// signalAllStatuses: signalling every process needs some process.
	signalAllStatuses = []Status{Created, Running, Paused}
)

// execStatuses are the statuses a process can be exec'd in, as runc allows
// it: a created container (its init waiting for start) or a running one,
// and a paused one only when asked (the process then starts frozen).
func execStatuses(allowPaused bool) []Status {
	if allowPaused {
		return []Status{Created, Running, Paused}
	}
	return []Status{Created, Running}
}
