package spec

import (
	"reflect"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/seccomp"
)

// Option changes a spec being built by New.
type Option func(*specs.Spec)

// New returns Default with the options applied in order, and with no
// terminal: library users give the container files or a console socket.
func New(opts ...Option) *specs.Spec {
	s := Default()
	s.Process.Terminal = false
	for _, o := range opts {
		o(s)
	}
	return s
}

// WithArgs sets the command and its arguments.
func WithArgs(args ...string) Option {
	return func(s *specs.Spec) { s.Process.Args = append([]string(nil), args...) }
}

// WithEnv adds KEY=VALUE entries to the environment, replacing any entry
// with the same key.
func WithEnv(env ...string) Option {
	return func(s *specs.Spec) {
		for _, kv := range env {
			key := envKey(kv)
			replaced := false
			for i, old := range s.Process.Env {
				if envKey(old) == key {
					s.Process.Env[i] = kv
					replaced = true
				}
			}
			if !replaced {
				s.Process.Env = append(s.Process.Env, kv)
			}
		}
	}
}

func envKey(kv string) string {
	for i := range len(kv) {
		if kv[i] == '=' {
			return kv[:i]
		}
	}
	return kv
}

// WithCwd sets the working directory of the process inside the container.
func WithCwd(dir string) Option {
	return func(s *specs.Spec) { s.Process.Cwd = dir }
}

// WithTerminal asks for a terminal (the caller must then give a console socket).
func WithTerminal(on bool) Option {
	return func(s *specs.Spec) { s.Process.Terminal = on }
}

// WithHostname sets the hostname; the default spec has a UTS namespace.
func WithHostname(name string) Option {
	return func(s *specs.Spec) { s.Hostname = name }
}

// WithRootPath sets root.path, absolute or relative to the bundle.
func WithRootPath(path string) Option {
	return func(s *specs.Spec) { s.Root.Path = path }
}

// WithReadonlyRootfs makes the root filesystem read-only or writable.
func WithReadonlyRootfs(ro bool) Option {
	return func(s *specs.Spec) { s.Root.Readonly = ro }
}

// WithMounts appends mounts.
func WithMounts(mounts ...specs.Mount) Option {
	return func(s *specs.Spec) { s.Mounts = append(s.Mounts, mounts...) }
}

// WithBindMount appends a bind mount of a host path; ro makes it read-only.
func WithBindMount(source, destination string, ro bool) Option {
	opts := []string{"rbind", "nosuid", "nodev"}
	if ro {
		opts = append(opts, "ro")
	}
	return WithMounts(specs.Mount{Destination: destination, Type: "bind", Source: source, Options: opts})
}

func resources(s *specs.Spec) *specs.LinuxResources {
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	return s.Linux.Resources
}

// WithMemoryLimit sets the memory limit in bytes.
func WithMemoryLimit(bytes int64) Option {
	return func(s *specs.Spec) {
		r := resources(s)
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		r.Memory.Limit = &bytes
	}
}

// WithCPUQuota limits CPU time to quota microseconds per period microseconds.
func WithCPUQuota(quota int64, period uint64) Option {
	return func(s *specs.Spec) {
		r := resources(s)
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		r.CPU.Quota = &quota
		r.CPU.Period = &period
	}
}

// WithCPUShares sets the relative CPU weight (cgroup v1 shares).
func WithCPUShares(shares uint64) Option {
	return func(s *specs.Spec) {
		r := resources(s)
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		r.CPU.Shares = &shares
	}
}

// WithPidsLimit caps the number of processes in the container.
func WithPidsLimit(limit int64) Option {
	return func(s *specs.Spec) {
		r := resources(s)
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
}

// WithNamespaces replaces the list of namespaces.
func WithNamespaces(ns ...specs.LinuxNamespace) Option {
	return func(s *specs.Spec) { s.Linux.Namespaces = append([]specs.LinuxNamespace(nil), ns...) }
}

// WithoutNamespace removes one namespace type, so the container shares the
// host's (a hostname needs the UTS namespace, so drop it too with "uts").
func WithoutNamespace(t specs.LinuxNamespaceType) Option {
	return func(s *specs.Spec) {
		kept := s.Linux.Namespaces[:0]
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != t {
				kept = append(kept, ns)
			}
		}
		s.Linux.Namespaces = kept
		if t == specs.UTSNamespace {
			s.Hostname = ""
		}
	}
}

// WithCapabilities sets the bounding, permitted and effective sets to caps
// and clears the inheritable and ambient sets. A default seccomp profile
// follows: it is made anew for the new capabilities.
func WithCapabilities(caps ...string) Option {
	return func(s *specs.Spec) {
		var old []string
		if s.Process.Capabilities != nil {
			old = s.Process.Capabilities.Bounding
		}
		c := append([]string(nil), caps...)
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  c,
			Permitted: c,
			Effective: c,
		}
		if s.Linux.Seccomp != nil && reflect.DeepEqual(s.Linux.Seccomp, seccomp.DefaultProfile(old)) {
			s.Linux.Seccomp = seccomp.DefaultProfile(c)
		}
	}
}

// WithSeccomp sets the seccomp profile (see package seccomp for berth's
// default and for loading Docker-format profiles).
func WithSeccomp(p *specs.LinuxSeccomp) Option {
	return func(s *specs.Spec) { s.Linux.Seccomp = p }
}

// WithoutSeccomp runs the container unconfined by seccomp.
func WithoutSeccomp() Option {
	return func(s *specs.Spec) { s.Linux.Seccomp = nil }
}

// WithAppArmorProfile sets the process's AppArmor profile ("" for none).
// berth-default (apparmor.DefaultProfile) is loaded on demand; other
// profiles must be loaded already.
func WithAppArmorProfile(name string) Option {
	return func(s *specs.Spec) { s.Process.ApparmorProfile = name }
}
