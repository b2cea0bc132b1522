// Package stdio is the stdio of the shim's container processes: where
// containerd wants it (Paths), and what the shim opens for it (Stdio):
// FIFOs and log files handed to the container, or pipes the shim copies
// to them (Env chooses), a binary:// logger, and a terminal's copies
// between its master and the FIFOs (consoleCopy). Each copy can park
// between a write and the next read, so that an in-place upgrade hands
// the handles over without losing or repeating a byte (handover.go).
//
// Lock rules. A Stdio is built whole by New and the start that hands it
// to the container, before it is shared. After that, Stdio.mu guards only
// the handles that an exit's drain and the requests (CloseIO, Delete)
// close at once. The terminal has its own lock (consoleCopy.closeMu) and
// each pipe copy its own (pipeCopy.mu). The order, outermost first:
// Stdio.mu, consoleCopy.closeMu, pipeCopy.mu (CloseStdin closes the
// terminal's stdin under Stdio.mu; a handover asks each copy whether it
// ended under its owner's lock). No lock here is held while calling out
// of the package; the caller (a task) may hold its own while it calls in.
package stdio
