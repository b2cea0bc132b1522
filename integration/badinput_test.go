package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-oci/berth/integration/hoststate"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestBadInput feeds the CLI bad input. Each case must fail with exit code
// 1 and one error line that says what was wrong, and leave nothing behind.
func TestBadInput(t *testing.T) {
	t.Parallel()
	good := func(t *testing.T) string { return newBundle(t, spec.WithArgs("true")) }
	withConfig := func(content string) func(t *testing.T) string {
		return func(t *testing.T) string {
			dir := good(t)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}
	}
	withSpec := func(opts ...spec.Option) func(t *testing.T) string {
		return func(t *testing.T) string { return newBundle(t, opts...) }
	}
	tests := []struct {
		name   string
		bundle func(t *testing.T) string
		args   func(bundle, id string) []string
		want   string // in the error line
	}{
		{
			name:   "missing bundle",
			bundle: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			want:   "nope: directory does not exist",
		},
		{
			name:   "config not JSON",
			bundle: withConfig("{\n  \"ociVersion\": \"1.2.0\",\n  oops\n}"),
			want:   "config.json: not valid JSON at line 3",
		},
		{
			name:   "config field of wrong type",
			bundle: withConfig(`{"ociVersion": "1.2.0", "process": {"args": "sh"}}`),
			want:   "config.json: process.args: expected []string",
		},
		{
			name: "missing rootfs",
			bundle: func(t *testing.T) string {
				dir := good(t)
				if err := os.RemoveAll(filepath.Join(dir, "rootfs")); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			want: "root.path: ",
		},
		{
			name:   "empty args",
			bundle: withSpec(spec.WithArgs()),
			want:   "process.args: must not be empty",
		},
		{
			name:   "unknown namespace",
			bundle: withSpec(spec.WithNamespaces(specs.LinuxNamespace{Type: "bogus"})),
			want:   `linux.namespaces[0].type: "bogus" is not a namespace type`,
		},
		{
			name:   "hostname without uts namespace",
			bundle: withSpec(spec.WithNamespaces(specs.LinuxNamespace{Type: "mount"}), spec.WithHostname("h")),
			want:   "hostname: needs a UTS namespace",
		},
		{
			// An unknown system call name is skipped, as runc skips it; an
			// unknown action is refused by runc too.
			name: "seccomp rule with an unknown action",
			bundle: withSpec(spec.WithSeccomp(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "nosuchcall"}, Action: "SCMP_ACT_MAYBE"}}})),
			want: `linux.seccomp.syscalls[0].action: "SCMP_ACT_MAYBE" is not an action`,
		},
		{
			name:   "AppArmor profile on a host without AppArmor",
			bundle: withSpec(spec.WithAppArmorProfile("berth-default")),
			want:   `process.apparmorProfile: "berth-default" is set but AppArmor is not enabled on this host`,
		},
		{
			name:   "controller the host lacks",
			bundle: withSpec(withHugepages),
			want:   "linux.resources.hugepageLimits: this host has no cgroup v1 hugetlb hierarchy",
		},
		{
			name:   "executable not found",
			bundle: withSpec(spec.WithArgs("/no/such/binary")),
			want:   "/no/such/binary",
		},
		{
			name:   "terminal without console socket",
			bundle: withSpec(spec.WithTerminal(true)),
			args:   func(b, id string) []string { return []string{"create", "--bundle", b, id} },
			want:   "--console-socket",
		},
		{
			name:   "invalid id ../x",
			bundle: good,
			args:   func(b, _ string) []string { return []string{"run", "--bundle", b, "../x"} },
			want:   `container id "../x" has '/'`,
		},
		{
			name:   "invalid id with slash",
			bundle: good,
			args:   func(b, _ string) []string { return []string{"run", "--bundle", b, "a/b"} },
			want:   `container id "a/b" has '/'`,
		},
		{
			name:   "empty id",
			bundle: good,
			args:   func(b, _ string) []string { return []string{"run", "--bundle", b, ""} },
			want:   "container id must not be empty",
		},
		{
			name:   "id too long",
			bundle: good,
			args: func(b, _ string) []string {
				return []string{"run", "--bundle", b, strings.Repeat("x", berth.MaxIDLength+1)}
			},
			want: "container id is 1025 bytes long, more than the 1024 allowed",
		},
		{
			name:   "preserve-fds beyond what was passed",
			bundle: good,
			args:   func(b, id string) []string { return []string{"run", "--preserve-fds", "2", "--bundle", b, id} },
			want:   "--preserve-fds: fd 3 was not passed to berth",
		},
		{
			name:   "systemd cgroup without systemd",
			bundle: good,
			args:   func(b, id string) []string { return []string{"--systemd-cgroup", "run", "--bundle", b, id} },
			want:   "systemd not running on this host",
		},
		{
			name:   "bad log format",
			bundle: good,
			args:   func(b, id string) []string { return []string{"--log-format", "xml", "run", "--bundle", b, id} },
			want:   `--log-format: "xml" is not a log format`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			bundle := tc.bundle(t)
			id := uniqueID(t)
			args := []string{"run", "--bundle", bundle, id}
			if tc.args != nil {
				args = tc.args(bundle, id)
			}
			r := c.run(nil, args...)
			assertOneErrorLine(t, r, tc.want)
			assertRootEmpty(t, c.root)
			assertGone(t, c.root, id, bundle, 0)
		})
	}
}

// withHugepages asks for a hugetlb limit: the project's v1 hybrid hosts
// have hugetlb only on the v2 side, where v1 containers cannot use it.
func withHugepages(s *specs.Spec) {
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	s.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2 << 20}}
}

// TestDuplicateID: a second create with the same id fails and leaves the
// first container as it was.
func TestDuplicateID(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	c.ok("create", "--bundle", bundle, id)
	before := c.state(id)
	r := c.run(nil, "create", "--bundle", bundle, id)
	assertOneErrorLine(t, r, "already exists")
	after := c.state(id)
	if after.Status != berth.Created || after.Pid != before.Pid {
		t.Fatalf("first container changed: before %+v after %+v", before, after)
	}
	c.ok("delete", "--force", id)
	assertGone(t, c.root, id, bundle, before.Pid)
}

// TestUnknownSignal: kill with an unknown signal fails and the container
// keeps running.
func TestUnknownSignal(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	c.ok("run", "--detach", "--bundle", bundle, id)
	for _, sig := range []string{"SIGFOO", "FOO", "65", "-3"} {
		r := c.run(nil, "kill", id, sig)
		assertOneErrorLine(t, r, sig)
	}
	if st := c.state(id); st.Status != berth.Running {
		t.Fatalf("container is %s after bad kills", st.Status)
	}
	pid := c.state(id).Pid
	c.ok("delete", "--force", id)
	assertGone(t, c.root, id, bundle, pid)
}

// TestDeleteRunningWithoutForce fails and leaves the container running.
func TestDeleteRunningWithoutForce(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t)
	c.ok("run", "--detach", "--bundle", bundle, id)
	r := c.run(nil, "delete", id)
	assertOneErrorLine(t, r, "container is running: stop it first, or delete with force")
	st := c.state(id)
	if st.Status != berth.Running {
		t.Fatalf("container is %s after refused delete", st.Status)
	}
	c.ok("delete", "--force", id)
	assertGone(t, c.root, id, bundle, st.Pid)
}

// TestMissingContainer: commands on an id that does not exist fail clearly.
func TestMissingContainer(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, args := range [][]string{{"state", "ghost"}, {"start", "ghost"}, {"kill", "ghost"}, {"delete", "ghost"}} {
		r := c.run(nil, args...)
		assertOneErrorLine(t, r, "ghost: container does not exist")
	}
	assertRootEmpty(t, c.root)
}

func assertOneErrorLine(t *testing.T, r result, want string) {
	t.Helper()
	assertErrorLine(t, r, 1, want)
}

// assertErrorLine checks a failure's exit code and its one error line.
func assertErrorLine(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("exit code %d, want %d (stderr %q)", r.Code, code, r.Stderr)
	}
	line := strings.TrimSuffix(r.Stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Fatalf("stderr is not one line: %q", r.Stderr)
	}
	if !strings.HasPrefix(line, "berth: ") || !strings.Contains(line, want) {
		t.Fatalf("error line %q does not say %q", line, want)
	}
}

// assertRootEmpty checks that the state root holds no container.
func assertRootEmpty(t *testing.T, root string) {
	t.Helper()
	for _, name := range hoststate.StateEntries(root) {
		t.Errorf("left in state root: %s", name)
	}
}
