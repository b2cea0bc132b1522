package runtime

import (
	"os"
	goruntime "runtime"

	_ "github.com/opencontainers/cgroups/devices" // device cgroup rules (v1 files, v2 eBPF)
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // cgo constructor that sets up namespaces
)

// InitArg is the first argument with which the library re-executes the
// current binary to become a container's init.
const InitArg = "init"

// Init becomes the container's init process when the binary was re-executed
// by this package, and returns at once otherwise. Call it first, from an init
// function of package main. In the init case it never returns.
//
// Otherwise it locks the main goroutine to the main thread. Starting a
// container, libcontainer joins the container's mount namespace on a
// locked thread that it then abandons; were that the main thread, which Go
// never ends, the process's /proc/self (mountinfo, ns/mnt) would show that
// container's mounts from then on, and the namespace would outlive the
// container.
func Init() {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		libcontainer.Init()
	}
	initCalled.Store(true)
	goruntime.LockOSThread()
}
