package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/berth-oci/berth/seccomp"
	"github.com/berth-oci/berth/spec"
	devices "github.com/opencontainers/cgroups/devices/config"
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
		// specconv is not safe for concurrent use: the default devices of
		// every config are the same package-level structs, and a user
		// namespace's conversion writes its root uid and gid into them
		// (found by the race detector in the shim's tests). Conversions
		// take turns, and each config gets devices of its own.
		specconvMu.Lock()
		defer specconvMu.Unlock()
		var err error
		defer func() {
			if cfg != nil {
				cfg.Devices = ownDevices(cfg.Devices)
			}
		}()
		cfg, err = specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
			CgroupName:       id,
			UseSystemdCgroup: r.systemdCgroup,
			NoPivotRoot:      o.noPivotRoot,
			NoNewKeyring:     o.noNewKeyring,
			Spec:             resolved,
			RootlessEUID:     os.Geteuid() != 0,
			RootlessCgroups:  r.useRootlessCgroups(),
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

// specconvMu serializes libcontainer's spec conversion (see toConfig).
var specconvMu sync.Mutex

// ownDevices returns copies of the devices, so that no other config
// shares them.
func ownDevices(devs []*devices.Device) []*devices.Device {
	out := make([]*devices.Device, len(devs))
	for i, d := range devs {
		c := *d
		out[i] = &c
	}
	return out
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
