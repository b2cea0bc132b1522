package sandbox

/*
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include "holder.h"
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
	"github.com/berth-oci/berth/shim/internal/mainthread"
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
	defer w.Close()
	h.report_fd = C.int(w.Fd())
	flags := holderCloneFlags(spec)
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
	var args holderCArgs
	defer args.free()
	keys := args.set(&h, spec)
	return launchHolder(&h, flags, userns, spec.newPID, r, w, keys, onExit)
}

// holderCloneFlags are the new namespaces the pod's holder is cloned in.
func holderCloneFlags(spec podHolderSpec) C.int {
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
	return flags
}

// holderCArgs holds the C memory of a holder's strings and arrays until
// free: the clone reads them while it sets the pod up.
type holderCArgs struct {
	ptrs []unsafe.Pointer
}

func (a *holderCArgs) cstr(s string) *C.char {
	p := C.CString(s)
	a.ptrs = append(a.ptrs, unsafe.Pointer(p))
	return p
}

func (a *holderCArgs) array(n int) []*C.char {
	p := C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof(uintptr(0))))
	a.ptrs = append(a.ptrs, p)
	return unsafe.Slice((**C.char)(p), n)
}

func (a *holderCArgs) free() {
	for _, p := range a.ptrs {
		C.free(p)
	}
}

// set gives h the pod's hostname (empty unless the pod has its own UTS
// namespace) and sysctls, and returns the sysctls' names in the order the
// holder sets them.
func (a *holderCArgs) set(h *C.struct_berth_holder, spec podHolderSpec) []string {
	hostname := ""
	if spec.newUTS {
		hostname = spec.hostname
	}
	h.hostname = a.cstr(hostname)
	keys := make([]string, 0, len(spec.sysctls))
	for k := range spec.sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if n := len(keys); n > 0 {
		paths, values := a.array(n), a.array(n)
		for i, k := range keys {
			paths[i] = a.cstr(sysctlPath(k))
			values[i] = a.cstr(spec.sysctls[k])
		}
		h.nsysctls = C.int(n)
		h.sysctl_paths = &paths[0]
		h.sysctl_values = &values[0]
	}
	return keys
}

// launchHolder clones the holder from the daemon's main thread, settles its
// user namespace, if any, and registers its exit with the reaper. w is the
// write end of the report pipe, r its read end; it closes w once the clone
// has its own copy, so that the report ends with the holder's setup.
func launchHolder(h *C.struct_berth_holder, flags C.int, userns *holderUserns, newPID bool, r, w *os.File, keys []string, onExit func(berth.ExitStatus)) (int, error) {
	// Held reaping: the holder may die before its owner is registered.
	release := berth.HoldReaping()
	h.parent = C.int(os.Getpid())
	h.image_fd = C.int(holderImageFd())
	var pid C.int
	var errno error
	mainthread.Do(func() { pid, errno = C.berth_start_holder(h, flags) })
	if pid < 0 {
		release()
		return 0, fmt.Errorf("start the pod's holder: %w", errno)
	}
	holder := int(pid)
	if userns != nil {
		var err error
		if holder, err = userns.settle(holder, newPID); err != nil {
			_ = unix.Kill(int(pid), unix.SIGKILL)
			release()
			w.Close()
			if stepErr := holderReport(r, keys); stepErr != nil {
				return 0, stepErr
			}
			return 0, err
		}
	}
	err := berth.OwnChild(holder, onExit)
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
