package runtime

import (
	"context"

	"github.com/opencontainers/cgroups/systemd"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/berth-oci/berth/apparmor"
	"github.com/berth-oci/berth/cgroups"
	"github.com/berth-oci/berth/seccomp"
)

// checkHost checks what a spec asks of this host before anything is
// created, so the error is clear and nothing is left behind: a seccomp
// profile runc would accept (its unknown system calls logged at debug
// level and skipped), cgroup controllers for the resources, and an
// AppArmor profile that can apply (berth-default is loaded on demand).
func checkHost(ctx context.Context, s *specs.Spec) error {
	if err := seccomp.Validate(s.Linux.Seccomp); err != nil {
		return withKind(ErrInvalid, err)
	}
	if logrus.IsLevelEnabled(logrus.DebugLevel) {
		for _, name := range seccomp.Unknown(s.Linux.Seccomp) {
			logrus.Debugf("unknown seccomp syscall %q ignored", name)
		}
	}
	if err := cgroups.CheckResources(s.Linux.Resources); err != nil {
		return withKind(ErrInvalid, err)
	}
	return checkAppArmor(ctx, s.Process)
}

// SystemdAvailable reports whether systemd runs this host, which the
// systemd cgroup driver (WithSystemdCgroup) needs.
func SystemdAvailable() bool { return systemd.IsRunningSystemd() }

func checkAppArmor(ctx context.Context, p *specs.Process) error {
	if err := apparmor.Check(p.ApparmorProfile); err != nil {
		return withKind(ErrInvalid, err)
	}
	if p.ApparmorProfile == apparmor.DefaultProfile {
		return apparmor.EnsureDefault(ctx)
	}
	return nil
}
