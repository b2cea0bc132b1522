package runtime

import (
	"slices"
	"strings"
)

// requireStatus returns ErrWrongState, naming op and the statuses that
// allow it, unless s is one of allowed.
func requireStatus(op string, s Status, allowed ...Status) error {
	if slices.Contains(allowed, s) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return errorf(ErrWrongState, "container is %s: %s needs it %s", s, op, strings.Join(names, " or "))
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
