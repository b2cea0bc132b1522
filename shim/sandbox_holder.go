package shim

/*
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

// berth_start_holder clones the holder with flags (new namespaces) and
// returns its pid, or -1 with errno.
static int berth_start_holder(struct berth_holder *h, int flags) {
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
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
)

// podHolderSpec is what a pod's holder process is made with.
type podHolderSpec struct {
	// netnsPath is the pod's network namespace (the CRI's); empty for the
	// host's.
	netnsPath string
	// newPID makes the holder the init of the pod's own pid namespace
	// (every pod's but a hostPID one); newIPC and newUTS give the pod its
	// own.
	newPID, newIPC, newUTS bool
	hostname               string
	// sysctls are set in the pod's namespaces (net.* and IPC's kernel.*).
	sysctls map[string]string
	// uidMap and gidMap, when set, give the pod a user namespace of its
	// own with these mappings, which owns its new IPC, UTS and pid
	// namespaces (the network namespace is the CRI's, made in a user
	// namespace of the CRI's with the same mappings).
	uidMap, gidMap []idMapping
}

// holderSteps name the steps of the holder's setup, for its errors.
var holderSteps = map[int]string{
	1: "join the network namespace", 2: "set the hostname", 3: "open /dev/null", 4: "set its parent-death signal",
	5: "make the pod's user namespace", 6: "hear from the daemon", 7: "become root of the pod's user namespace",
	8: "make the pod's namespaces in its user namespace", 9: "start the init of the pod's pid namespace",
	10: "join the user namespace of the pod's network namespace",
}

// startPodHolder starts a pod's holder: a process that is not a container
// (no image, rootfs or cgroup of its own), cloned from the daemon in the
// pod's new namespaces, joined to its network namespace, with its hostname
// and sysctls set, then waiting (and reaping, as a pid namespace's init)
// until it is killed. Its pid is the pod's for containerd: the containers
// join /proc/<pid>/ns/*. onExit gets its exit, through the daemon's reaper.
func startPodHolder(spec podHolderSpec, onExit func(berth.ExitStatus)) (int, error) {
	h := C.struct_berth_holder{netns_fd: -1, userns_fd: -1}
	var netns *os.File
	if spec.netnsPath != "" {
		var err error
		if netns, err = os.Open(spec.netnsPath); err != nil {
			return 0, fmt.Errorf("pod network namespace: %w", err)
		}
		defer netns.Close()
		h.netns_fd = C.int(netns.Fd())
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	h.report_fd = C.int(w.Fd())
	var flags C.int
	if spec.newPID {
		flags |= C.CLONE_NEWPID
	}
	if spec.newIPC {
		flags |= C.CLONE_NEWIPC
	}
	if spec.newUTS {
		flags |= C.CLONE_NEWUTS
	}
	var userns *holderUserns
	if len(spec.uidMap) > 0 {
		if userns, err = newHolderUserns(spec.uidMap, spec.gidMap, netns); err != nil {
			return 0, err
		}
		defer userns.close()
		// The clone makes no namespace: the new ones are made inside the
		// user namespace, after the network namespace is joined.
		h.userns, h.sync_fd, h.inner_flags = 1, C.int(userns.childEnd.Fd()), flags
		if userns.owner != nil {
			h.userns_fd = C.int(userns.owner.Fd())
		}
		flags = 0
	}
	if flags&C.CLONE_NEWPID != 0 {
		h.new_pid = 1
	}
	hostname := ""
	if spec.newUTS {
		hostname = spec.hostname
	}
	var cstrs []*C.char
	defer func() {
		for _, s := range cstrs {
			C.free(unsafe.Pointer(s))
		}
	}()
	cstr := func(s string) *C.char {
		p := C.CString(s)
		cstrs = append(cstrs, p)
		return p
	}
	h.hostname = cstr(hostname)
	keys := make([]string, 0, len(spec.sysctls))
	for k := range spec.sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if n := len(keys); n > 0 {
		paths := (*[1 << 20]*C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0)))))[:n:n]
		values := (*[1 << 20]*C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0)))))[:n:n]
		defer C.free(unsafe.Pointer(&paths[0]))
		defer C.free(unsafe.Pointer(&values[0]))
		for i, k := range keys {
			paths[i] = cstr(sysctlPath(k))
			values[i] = cstr(spec.sysctls[k])
		}
		h.nsysctls = C.int(n)
		h.sysctl_paths = &paths[0]
		h.sysctl_values = &values[0]
	}
	// Held reaping: the holder may die before its owner is registered.
	release := berth.HoldReaping()
	h.parent = C.int(os.Getpid())
	h.image_fd = C.int(holderImageFd())
	var pid C.int
	var errno error
	onMainThread(func() { pid, errno = C.berth_start_holder(&h, flags) })
	if pid < 0 {
		release()
		w.Close()
		return 0, fmt.Errorf("start the pod's holder: %w", errno)
	}
	holder := int(pid)
	if userns != nil {
		holder, err = userns.settle(holder, spec.newPID)
		if err != nil {
			_ = unix.Kill(int(pid), unix.SIGKILL)
			release()
			w.Close()
			if stepErr := holderReport(r, keys); stepErr != nil {
				return 0, stepErr
			}
			return 0, err
		}
	}
	err = berth.OwnChild(holder, onExit)
	release()
	w.Close()
	if err != nil {
		_ = unix.Kill(holder, unix.SIGKILL)
		return 0, err
	}
	if err := holderReport(r, keys); err != nil {
		return 0, err
	}
	return holder, nil
}

// holderReport reads the holder's report pipe to its end: the step that
// failed and its errno, or nothing. keys are the sysctls' names, in the
// order the holder sets them.
func holderReport(r io.Reader, keys []string) error {
	report, _ := io.ReadAll(r)
	if len(report) < 8 {
		return nil
	}
	step := int(binary.NativeEndian.Uint32(report[0:4]))
	errNo := unix.Errno(binary.NativeEndian.Uint32(report[4:8]))
	what := holderSteps[step]
	if step >= 100 && step-100 < len(keys) {
		what = "set sysctl " + keys[step-100]
	}
	return fmt.Errorf("the pod's holder could not %s: %w", what, errNo)
}

// sysctlPath is a sysctl's file under /proc/sys: dots are separators, and
// slashes too (the kernel's own notation allows both).
func sysctlPath(name string) string {
	if !strings.Contains(name, "/") {
		name = strings.ReplaceAll(name, ".", "/")
	}
	return filepath.Join("/proc/sys", name)
}
