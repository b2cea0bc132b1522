//go:build !libcontainer_seccomp_program

package runtime

import "github.com/opencontainers/runc/libcontainer/configs"

// SeccompPrecompiled reports whether this build compiles each distinct
// seccomp profile once (see seccomp_program.go). This build does not: it
// uses upstream libcontainer, whose container init and exec'd processes
// compile the profile themselves.
const SeccompPrecompiled = false

// attachSeccompProgram does nothing in this build.
func (r *Runtime) attachSeccompProgram(*configs.Seccomp) (store func()) {
	return func() {}
}
