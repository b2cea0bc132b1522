package runtime

import (
	"os"

	"github.com/moby/sys/userns"
	"github.com/opencontainers/cgroups/systemd"
	"github.com/sirupsen/logrus"
)

// WithRootlessCgroups says whether cgroup permission errors are ignored
// (the rootless cgroup manager), as runc's --rootless true|false does. Nil,
// the default, detects it as runc's --rootless auto does (see
// rootlessCgroups).
func WithRootlessCgroups(on *bool) Option {
	return func(r *Runtime) { r.rootlessCgroups = on }
}

// hostIdentity is what rootlessCgroups detects from; a field each, so that
// the rules are tested without changing who runs the tests.
type hostIdentity struct {
	euid       int
	inUserNS   bool
	systemdUID func() (int, error) // the owner of the user's systemd
}

func currentIdentity() hostIdentity {
	return hostIdentity{euid: os.Geteuid(), inUserNS: userns.RunningInUserNS(), systemdUID: systemd.DetectUID}
}

// rootlessCgroups is runc's --rootless auto: an unprivileged user, or root
// in a user namespace, cannot count on managing cgroups, except root of a
// user namespace whose systemd (with the systemd driver) is root's.
func (h hostIdentity) rootlessCgroups(systemdCgroup bool) bool {
	switch {
	case h.euid != 0:
		return true
	case !h.inUserNS:
		return false
	case systemdCgroup:
		uid, err := h.systemdUID()
		if err != nil {
			logrus.WithError(err).Debug("owner of systemd unknown: taken to be root")
			uid = 0
		}
		return uid != 0
	default:
		return true
	}
}

// useRootlessCgroups is the setting, or its detection.
func (r *Runtime) useRootlessCgroups() bool {
	if r.rootlessCgroups != nil {
		return *r.rootlessCgroups
	}
	return currentIdentity().rootlessCgroups(r.systemdCgroup)
}
