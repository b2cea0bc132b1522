// Package task is containerd's task API (v2 and v3) on berth's runtime
// library: the Service dispatches each request to its task, a task owns
// its container and its processes, and each process changes state only
// through its state table (process_state.go). Exits, OOM events and
// checkpoints are the task's; its stdio is the stdio package's, its
// events go out through a Publisher, and whether the daemon may retire is
// its Keeper's. A task saves its own state for an in-place upgrade and is
// rebuilt from it (handover.go).
//
// The calls containerd makes, in order, for one container: Create (the
// container created, its init waiting), Start, then any of State, Exec and
// Start of the exec, Kill, Pids, Pause/Resume, Update, Stats, ResizePty,
// CloseIO, Checkpoint; Wait for each process; Delete of each exec and of
// the init; Shutdown, after which the daemon retires if nothing else
// holds it.
//
// Lock rules. Service.mu guards the service's maps and is held only to
// read or change them; it may be held while the Keeper's lock is taken,
// never while a task's is. A task's lock (task.mu) comes before the
// locks of what it owns or calls: its processes' stdio, the runtime
// Container's, the OOM watch's and the Publisher's; none of those calls
// back into a task. No lookup returns a locked task, and no method
// returns with a lock held.
package task
