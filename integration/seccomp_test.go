package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-oci/berth/spec"
)

// TestSeccompEnforced: the default profile is active and refuses what it
// should. An unprivileged user namespace is allowed by the kernel, so only
// seccomp refuses `unshare -U`; with the profile off it works.
func TestSeccompEnforced(t *testing.T) {
	t.Parallel()
	script := `grep Seccomp: /proc/self/status | tr -d '\t'; unshare -U true 2>/dev/null && echo userns-allowed || echo userns-denied`
	tests := []struct {
		name string
		opts []spec.Option
		want string
	}{
		{"default profile", nil, "Seccomp:2\nuserns-denied"},
		{"default profile with CAP_SYS_ADMIN", []spec.Option{spec.WithCapabilities("CAP_SYS_ADMIN", "CAP_KILL")}, "Seccomp:2\nuserns-allowed"},
		{"unconfined", []spec.Option{spec.WithoutSeccomp()}, "Seccomp:0\nuserns-allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			bundle := newBundle(t, append(tc.opts, spec.WithArgs("sh", "-c", script))...)
			r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
			if r.Code != 0 || strings.TrimSpace(r.Stdout) != tc.want {
				t.Fatalf("code %d stdout %q stderr %q, want %q", r.Code, r.Stdout, r.Stderr, tc.want)
			}
		})
	}
}

// TestSpecSeccompFlag: `berth spec` writes the default profile, leaves it
// out with --seccomp=unconfined, loads a Docker-format file, and refuses a
// bad one naming the field.
func TestSpecSeccompFlag(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	profile := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_MAYBE"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flag  string
		names int // syscall rules expected; -1: no profile
	}{{"default", -2}, {"unconfined", -1}, {profile, 1}} {
		dir := t.TempDir()
		c.ok("spec", "--bundle", dir, "--seccomp", tc.flag)
		data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		s, err := spec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.names == -1 && s.Linux.Seccomp != nil:
			t.Errorf("%s: profile present", tc.flag)
		case tc.names == -2 && (s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) < 2):
			t.Errorf("%s: default profile missing", tc.flag)
		case tc.names > 0 && (s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) != tc.names):
			t.Errorf("%s: profile %+v", tc.flag, s.Linux.Seccomp)
		}
	}
	r := c.run(nil, "spec", "--bundle", t.TempDir(), "--seccomp", bad)
	assertOneErrorLine(t, r, `linux.seccomp.syscalls[0].action: "SCMP_ACT_MAYBE" is not an action`)
}
