package runtime

import (
	"os"

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
func Init() {
	if len(os.Args) > 1 && os.Args[1] == InitArg {
		libcontainer.Init()
	}
}
