package runtime

import (
	"path/filepath"
)

// Runtime manages the containers whose state lives under one root directory.
type Runtime struct {
	root          string
	systemdCgroup bool
	// rootlessCgroups is WithRootlessCgroups's setting; nil detects it.
	rootlessCgroups *bool
	programs        *programCache
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithSystemdCgroup makes containers use the systemd cgroup driver; their
// linux.cgroupsPath must then be of the form "slice:prefix:name".
func WithSystemdCgroup(on bool) Option {
	return func(r *Runtime) { r.systemdCgroup = on }
}

// New returns a Runtime keeping container state under root, which must be an
// absolute path (it is created when the first container is).
func New(root string, opts ...Option) (*Runtime, error) {
	if !filepath.IsAbs(root) {
		return nil, errorf(ErrInvalid, "state root %q: path must be absolute", root)
	}
	r := &Runtime{root: filepath.Clean(root)}
	r.programs = newProgramCache(r.root)
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Root returns the directory under which container state is kept.
func (r *Runtime) Root() string { return r.root }

func (r *Runtime) stateDir(id string) string { return filepath.Join(r.root, id) }
