// The pod holder's setup in C (holder.c), called from
// holder.go: a child cloned from the daemon runs it before it
// executes the holder's program.
#ifndef BERTH_SANDBOX_HOLDER_H
#define BERTH_SANDBOX_HOLDER_H

// A pod holder's setup, made by the daemon before the clone: the child
// only makes system calls (it is a fork of a threaded process, so no
// malloc, no locks).
struct berth_holder {
	int netns_fd;   // -1: stay in the daemon's network namespace
	int report_fd;  // the child writes a failing step's errno here
	int new_pid;    // the holder is the init of a new pid namespace
	int parent;     // the daemon's pid
	int image_fd;   // the holder program's memfd, or -1
	// A pod user namespace: the clone made no namespace; it joins the
	// network namespace, then joins userns_fd (when not -1: the owner of
	// the network namespace) or makes a user namespace (the daemon maps
	// it: a byte each way on sync_fd), then makes inner_flags (IPC, UTS,
	// PID) inside it. With a new pid namespace its init is a second
	// clone, the daemon's child too, whose pid goes back on sync_fd.
	int userns;
	int userns_fd;
	int sync_fd;
	int inner_flags;
	const char *hostname;
	int nsysctls;
	const char **sysctl_paths;  // under /proc/sys
	const char **sysctl_values;
};

// berth_start_holder clones the holder with flags (new namespaces) and
// returns its pid, or -1 with errno.
int berth_start_holder(struct berth_holder *h, int flags);

#endif
