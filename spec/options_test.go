package spec

import (
	"encoding/json"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func TestOptions(t *testing.T) {
	s := New(
		WithArgs("echo", "hi"),
		WithEnv("A=1", "PATH=/bin"),
		WithCwd("/tmp"),
		WithHostname("h"),
		WithReadonlyRootfs(false),
		WithBindMount("/src", "/dst", true),
		WithMemoryLimit(1<<20),
		WithCPUQuota(1000, 10000),
		WithCPUShares(512),
		WithPidsLimit(9),
		WithoutNamespace(specs.NetworkNamespace),
		WithCapabilities("CAP_KILL"),
	)
	checks := []struct {
		name string
		ok   bool
	}{
		{"no terminal", !s.Process.Terminal},
		{"args", slices.Equal(s.Process.Args, []string{"echo", "hi"})},
		{"env replaces PATH", slices.Equal(s.Process.Env, []string{"PATH=/bin", "TERM=xterm", "A=1"})},
		{"cwd", s.Process.Cwd == "/tmp"},
		{"hostname", s.Hostname == "h"},
		{"writable root", !s.Root.Readonly},
		{"bind mount", s.Mounts[len(s.Mounts)-1].Destination == "/dst" && slices.Contains(s.Mounts[len(s.Mounts)-1].Options, "ro")},
		{"memory", *s.Linux.Resources.Memory.Limit == 1<<20},
		{"cpu", *s.Linux.Resources.CPU.Quota == 1000 && *s.Linux.Resources.CPU.Period == 10000 && *s.Linux.Resources.CPU.Shares == 512},
		{"pids", *s.Linux.Resources.Pids.Limit == 9},
		{"device rules kept", len(s.Linux.Resources.Devices) == 1},
		{"no network namespace", !slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })},
		{"capabilities", slices.Equal(s.Process.Capabilities.Effective, []string{"CAP_KILL"}) && len(s.Process.Capabilities.Ambient) == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not applied", c.name)
		}
	}
	if d := Default(); !d.Process.Terminal || d.Hostname != DefaultHostname {
		t.Errorf("Default: terminal %v hostname %q", d.Process.Terminal, d.Hostname)
	}
}
