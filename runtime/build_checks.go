package runtime

import (
	"sync/atomic"

	lcseccomp "github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// initCalled records that Init ran in this process.
var initCalled atomic.Bool

// requireInit refuses to start a container's init or an exec when the
// program never called Init: the container's init re-executes the program,
// which would then run its whole main a second time (side effects and
// all) and leave the create waiting for an init that never reports.
func requireInit() error {
	if !initCalled.Load() {
		return errorf(ErrInvalid, "runtime.Init was not called: call berth's runtime.Init() first in main (or in an init function of package main); a container's init re-executes this program")
	}
	return nil
}

// seccompBuilt reports whether this program was built with seccomp
// support (cgo, libseccomp and the build tag seccomp).
func seccompBuilt() bool {
	major, minor, micro := lcseccomp.Version()
	return major+minor+micro > 0
}

// requireSeccompBuild refuses a spec that asks for seccomp in a program
// built without it, naming the tag, before anything is made: otherwise the
// container's init fails, naming neither.
func requireSeccompBuild(s *specs.Spec) error {
	if s.Linux == nil || s.Linux.Seccomp == nil || seccompBuilt() {
		return nil
	}
	return errorf(ErrNotSupported, "linux.seccomp: this program was built without seccomp support; build it with cgo, libseccomp and -tags seccomp")
}
