package seccomp

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	goruntime "runtime"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// x32SyscallBit marks a system call as made through the x32 ABI.
const x32SyscallBit = 0x40000000

// x32Runnable reports whether the running kernel executes x32 system
// calls. It probes once per process with an x32 getpid, and only when this
// process runs without a seccomp filter of its own (a filter that does not
// list x32 would kill the prober); under a filter it answers true, which
// keeps every architecture.
var x32Runnable = sync.OnceValue(func() bool {
	if goruntime.GOARCH != "amd64" || underSeccomp() {
		return true
	}
	_, _, errno := unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
	return !errors.Is(errno, unix.ENOSYS)
})

// underSeccomp reports whether this process runs under a seccomp mode
// (or cannot tell).
func underSeccomp() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("Seccomp:")); ok {
			return string(bytes.TrimSpace(v)) != "0"
		}
	}
	return true
}

// RunnableArchitectures returns arches (libcontainer's names, such as
// "amd64", "x86" and "x32") without the ABIs the running kernel cannot
// execute, so the container's init does not compile filter sections no
// process can reach. libseccomp's cost grows faster than linearly with
// the architectures; dropping x32 on a kernel without it roughly halves
// the filter build in every container start. A call made through a
// dropped ABI meets the filter's bad-architecture action, which is at
// least as strict as the kernel's ENOSYS.
func RunnableArchitectures(arches []string) []string {
	if !slices.Contains(arches, "x32") || x32Runnable() {
		return arches
	}
	return slices.DeleteFunc(slices.Clone(arches), func(a string) bool { return a == "x32" })
}
