// The pod holder's setup (holder.go says what a holder is). The
// child only makes system calls: it is a fork of a threaded process, so no
// malloc and no locks after the clone. Each failing step writes its number
// and errno on the report pipe (holderSteps in holder.go names
// them) and exits.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "holder.h"

static void berth_holder_fail(struct berth_holder *h, int step) {
	int report[2] = {step, errno};
	(void)!write(h->report_fd, report, sizeof(report));
	_exit(1);
}

// berth_holder_sysctls sets the sysctls under /proc/sys/net (net 1) or
// the others (net 0), or all (net -1).
static void berth_holder_sysctls(struct berth_holder *h, int net) {
	int i, fd, is_net;
	for (i = 0; i < h->nsysctls; i++) {
		is_net = strncmp(h->sysctl_paths[i], "/proc/sys/net/", 14) == 0;
		if (net >= 0 && is_net != net)
			continue;
		fd = open(h->sysctl_paths[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			berth_holder_fail(h, 100 + i);
		if (write(fd, h->sysctl_values[i], strlen(h->sysctl_values[i])) < 0)
			berth_holder_fail(h, 100 + i);
		close(fd);
	}
}

// berth_holder_wait ends the setup and becomes the holder: stdio to
// /dev/null, the daemon's files closed, the program executed (or this
// clone waiting).
static int berth_holder_wait(struct berth_holder *h) {
	int null;
	// Hold none of the daemon's files (its sockets above all): stdio to
	// /dev/null, the rest closed, the report pipe last (EOF: success).
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		berth_holder_fail(h, 3);
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	// Ignored, SIGCHLD has the kernel reap the children a pid namespace's
	// init is left (and stays ignored across the exec).
	signal(SIGCHLD, SIG_IGN);
	if (h->image_fd >= 0) {
		// Everything of the daemon's goes at the exec, the report pipe
		// too (EOF: success); the image is executed by its fd.
		char *argv[] = {"berth-pod", NULL};
		char *envp[] = {NULL};
		syscall(SYS_close_range, 3, ~0U, 4); // CLOSE_RANGE_CLOEXEC
		syscall(SYS_execveat, h->image_fd, "", argv, envp, AT_EMPTY_PATH);
	}
	// No image (not amd64) or the exec failed: stay the clone.
	syscall(SYS_close_range, 3, ~0U, 0);
	for (;;)
		pause();
	return 0;
}

// berth_holder_init is the init of a pod user namespace's pid namespace.
static int berth_holder_init(void *arg) {
	struct berth_holder *h = arg;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		berth_holder_fail(h, 4);
	return berth_holder_wait(h);
}

// berth_holder_userns joins or makes the pod's user namespace and makes,
// inside it, the pod's other new namespaces.
static void berth_holder_userns(struct berth_holder *h) {
	char c = 0;
	if (h->userns_fd >= 0) {
		if (setns(h->userns_fd, CLONE_NEWUSER) < 0)
			berth_holder_fail(h, 10);
	} else {
		if (unshare(CLONE_NEWUSER) < 0)
			berth_holder_fail(h, 5);
		if (write(h->sync_fd, &c, 1) != 1 || read(h->sync_fd, &c, 1) != 1)
			berth_holder_fail(h, 6);
	}
	// Root of the user namespace (mapped by now). Raw system calls:
	// glibc's wrappers would wait for the threads of the daemon, which
	// this clone does not have. A joined namespace may deny setgroups
	// (its maker wrote "deny"): the daemon's groups then stay, unmapped.
	if (syscall(SYS_setresgid, 0, 0, 0) < 0)
		berth_holder_fail(h, 7);
	if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM)
		berth_holder_fail(h, 7);
	if (syscall(SYS_setresuid, 0, 0, 0) < 0)
		berth_holder_fail(h, 7);
	if (h->inner_flags != 0 && unshare(h->inner_flags) < 0)
		berth_holder_fail(h, 8);
}

// berth_holder_start_init starts the init of the pid namespace made in the
// pod's user namespace (a child of the daemon's, as this one is) and
// sends its pid to the daemon: it is the holder.
static void berth_holder_start_init(struct berth_holder *h) {
	static char init_stack[16 * 1024]; // this process's copy: no CLONE_VM
	int pid = clone(berth_holder_init, init_stack + sizeof(init_stack), CLONE_PARENT | SIGCHLD, h);
	if (pid < 0)
		berth_holder_fail(h, 9);
	if (write(h->sync_fd, &pid, sizeof(pid)) != sizeof(pid))
		berth_holder_fail(h, 6);
}

static int berth_holder_main(void *arg) {
	struct berth_holder *h = arg;
	sigset_t all;
	int i;

	// Signals: the daemon's handlers are Go's, which this child cannot
	// run. Back to the defaults, nothing blocked.
	for (i = 1; i < 65; i++)
		if (i != SIGKILL && i != SIGSTOP)
			signal(i, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	// Die with the daemon (its main thread, which cloned this one and
	// ends only with it): a pod whose daemon was killed has nobody left to
	// serve or clean it.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		berth_holder_fail(h, 4);
	if (!h->new_pid && getppid() != h->parent)
		_exit(1);
	if (h->netns_fd >= 0 && setns(h->netns_fd, CLONE_NEWNET) < 0)
		berth_holder_fail(h, 1);
	if (h->userns) {
		// The network's sysctls while this process is still the
		// daemon's root: its namespace is not owned by the pod's user
		// namespace (the CRI made it in one of its own).
		berth_holder_sysctls(h, 1);
		berth_holder_userns(h);
	}
	if (h->hostname[0] != '\0' && sethostname(h->hostname, strlen(h->hostname)) < 0)
		berth_holder_fail(h, 2);
	berth_holder_sysctls(h, h->userns ? 0 : -1);
	if (h->userns && (h->inner_flags & CLONE_NEWPID)) {
		berth_holder_start_init(h);
		_exit(0); // the pid namespace's init holds the pod
	}
	return berth_holder_wait(h);
}

int berth_start_holder(struct berth_holder *h, int flags) {
	const size_t size = 64 * 1024;
	char *stack = malloc(size);
	int pid;
	if (stack == NULL)
		return -1;
	pid = clone(berth_holder_main, stack + size, flags | SIGCHLD, h);
	// The child has its own copy of the stack (no CLONE_VM).
	free(stack);
	return pid;
}
