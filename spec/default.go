package spec

import (
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/apparmor"
	"github.com/berth-oci/berth/seccomp"
)

// DefaultHostname is the hostname of a container made from Default.
const DefaultHostname = "berth"

// Default returns the spec that `berth spec` writes: runc's default (an
// interactive "sh" with a terminal, a read-only rootfs at "rootfs", three
// capabilities, private namespaces, masked and read-only /proc paths and a
// deny-all device cgroup), with berth's hostname and, secure by default,
// berth's default seccomp profile and, where AppArmor is enabled, the
// berth-default AppArmor profile.
func Default() *specs.Spec {
	s := specconv.Example()
	s.Hostname = DefaultHostname
	s.Linux.Seccomp = seccomp.DefaultProfile(s.Process.Capabilities.Bounding)
	if apparmor.IsEnabled() {
		s.Process.ApparmorProfile = apparmor.DefaultProfile
	}
	return s
}

// Rootless turns a spec into one that an unprivileged user can run: a new
// user namespace mapping the caller to root, no network namespace, sysfs
// bind-mounted and no cgroup resources.
func Rootless(s *specs.Spec) {
	specconv.ToRootless(s)
}
