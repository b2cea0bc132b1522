package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-oci/berth/seccomp"
	"github.com/berth-oci/berth/spec"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// bundleLabel is the libcontainer config label that records the bundle path
// (runc's convention, read back by `state` and `list`).
const bundleLabel = "bundle="

type configOpts struct {
	noPivotRoot  bool
	noNewKeyring bool
}

// toConfig is berth's one translation from an OCI spec to libcontainer's
// configuration. bundle must be absolute. Relative paths in the spec are
// resolved against the bundle, never against the working directory.
func (r *Runtime) toConfig(id, bundle string, s *specs.Spec, o configOpts) (*configs.Config, error) {
	resolved := withAbsolutePaths(s, bundle)
	var cfg *configs.Config
	// specconv spawns, and waits for, a child holding a user namespace
	// when mounts are idmapped: the reaper must not take its exit.
	err := spawning(func() error {
		var err error
		cfg, err = specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
			CgroupName:       id,
			UseSystemdCgroup: r.systemdCgroup,
			NoPivotRoot:      o.noPivotRoot,
			NoNewKeyring:     o.noNewKeyring,
			Spec:             resolved,
			RootlessEUID:     os.Geteuid() != 0,
			RootlessCgroups:  os.Geteuid() != 0,
		})
		return err
	})
	if err != nil {
		return nil, withKind(ErrInvalid, fmt.Errorf("convert spec: %w", err))
	}
	if cfg.Seccomp != nil {
		cfg.Seccomp.Architectures = seccomp.RunnableArchitectures(cfg.Seccomp.Architectures)
	}
	// specconv labels the config with the working directory as the bundle.
	cfg.Labels = slices.DeleteFunc(cfg.Labels, func(l string) bool { return strings.HasPrefix(l, bundleLabel) })
	cfg.Labels = append(cfg.Labels, bundleLabel+bundle)
	return cfg, nil
}

// withAbsolutePaths returns a shallow copy of s whose root.path and bind
// mount sources are absolute, resolved against bundle.
func withAbsolutePaths(s *specs.Spec, bundle string) *specs.Spec {
	out := *s
	root := *s.Root
	root.Path = spec.RootfsPath(s, bundle)
	out.Root = &root
	out.Mounts = make([]specs.Mount, len(s.Mounts))
	for i, m := range s.Mounts {
		if isBind(m) && m.Source != "" && !filepath.IsAbs(m.Source) {
			m.Source = filepath.Join(bundle, m.Source)
		}
		out.Mounts[i] = m
	}
	return &out
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	return slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}
