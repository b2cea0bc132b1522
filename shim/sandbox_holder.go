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

static int berth_holder_main(void *arg) {
	struct berth_holder *h = arg;
	sigset_t all;
	int i, fd, null;

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
	if (h->hostname[0] != '\0' && sethostname(h->hostname, strlen(h->hostname)) < 0)
		berth_holder_fail(h, 2);
	for (i = 0; i < h->nsysctls; i++) {
		fd = open(h->sysctl_paths[i], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			berth_holder_fail(h, 100 + i);
		if (write(fd, h->sysctl_values[i], strlen(h->sysctl_values[i])) < 0)
			berth_holder_fail(h, 100 + i);
		close(fd);
	}
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
	// (shareProcessNamespace); newIPC and newUTS give the pod its own.
	newPID, newIPC, newUTS bool
	hostname               string
	// sysctls are set in the pod's namespaces (net.* and IPC's kernel.*).
	sysctls map[string]string
}

// holderSteps name the steps of the holder's setup, for its errors.
var holderSteps = map[int]string{1: "join the network namespace", 2: "set the hostname", 3: "open /dev/null", 4: "set its parent-death signal"}

// startPodHolder starts a pod's holder: a process that is not a container
// (no image, rootfs or cgroup of its own), cloned from the daemon in the
// pod's new namespaces, joined to its network namespace, with its hostname
// and sysctls set, then waiting (and reaping, as a pid namespace's init)
// until it is killed. Its pid is the pod's for containerd: the containers
// join /proc/<pid>/ns/*. onExit gets its exit, through the daemon's reaper.
func startPodHolder(spec podHolderSpec, onExit func(berth.ExitStatus)) (int, error) {
	h := C.struct_berth_holder{netns_fd: -1}
	if spec.netnsPath != "" {
		ns, err := os.Open(spec.netnsPath)
		if err != nil {
			return 0, fmt.Errorf("pod network namespace: %w", err)
		}
		defer ns.Close()
		h.netns_fd = C.int(ns.Fd())
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	h.report_fd = C.int(w.Fd())
	if spec.newPID {
		h.new_pid = 1
	}
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
	err = berth.OwnChild(int(pid), onExit)
	release()
	w.Close()
	if err != nil {
		_ = unix.Kill(int(pid), unix.SIGKILL)
		return 0, err
	}
	report, _ := io.ReadAll(r)
	if len(report) >= 8 {
		step := int(binary.NativeEndian.Uint32(report[0:4]))
		errNo := unix.Errno(binary.NativeEndian.Uint32(report[4:8]))
		what := holderSteps[step]
		if step >= 100 && step-100 < len(keys) {
			what = "set sysctl " + keys[step-100]
		}
		return 0, fmt.Errorf("the pod's holder could not %s: %w", what, errNo)
	}
	return int(pid), nil
}

// sysctlPath is a sysctl's file under /proc/sys: dots are separators, and
// slashes too (the kernel's own notation allows both).
func sysctlPath(name string) string {
	if !strings.Contains(name, "/") {
		name = strings.ReplaceAll(name, ".", "/")
	}
	return filepath.Join("/proc/sys", name)
}
