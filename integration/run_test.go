package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/spec"
)

// TestRunExitCode checks that a foreground run exits with the container's
// exit code, and with 128+signal when the container is killed.
func TestRunExitCode(t *testing.T) {
	t.Parallel()
	// A pid namespace's init ignores signals it has no handler for, even
	// SIGKILL from inside; without a pid namespace the shell can kill itself.
	hostPid := spec.WithoutNamespace(specs.PIDNamespace)
	tests := []struct {
		name   string
		opts   []spec.Option
		script string
		want   int
	}{
		{"zero", nil, "exit 0", 0},
		{"three", nil, "exit 3", 3},
		{"max", nil, "exit 255", 255},
		{"sigkill", []spec.Option{hostPid}, "kill -KILL $$", 128 + 9},
		{"sigterm", []spec.Option{hostPid}, "kill -TERM $$; sleep 5", 128 + 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			bundle := newBundle(t, append(tc.opts, spec.WithArgs("sh", "-c", tc.script))...)
			id := uniqueID(t)
			r := c.run(nil, "run", "--bundle", bundle, id)
			if r.Code != tc.want {
				t.Fatalf("exit code %d, want %d (stderr: %s)", r.Code, tc.want, r.Stderr)
			}
			assertGone(t, c.root, id, bundle, 0)
		})
	}
}

// TestRunStdinToStdout pipes 1 MiB through a container's cat.
func TestRunStdinToStdout(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("cat"))
	in := make([]byte, 1<<20)
	_, _ = rand.Read(in)
	r := c.run(in, "run", "--bundle", bundle, uniqueID(t))
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if !bytes.Equal([]byte(r.Stdout), in) {
		t.Fatalf("stdout has %d bytes, not the %d bytes of stdin", len(r.Stdout), len(in))
	}
}

// TestRunInside checks what the process sees inside the container.
func TestRunInside(t *testing.T) {
	t.Parallel()
	noMasks := func(s *specs.Spec) { s.Linux.MaskedPaths = nil }
	tests := []struct {
		name   string
		opts   []spec.Option
		script string
		want   string
	}{
		{"hostname", []spec.Option{spec.WithHostname("box-17")}, "hostname", "box-17"},
		{"pid 1", nil, "echo $$", "1"},
		{"masked file", nil, "[ -c /proc/timer_list ] && echo masked || echo visible", "masked"},
		{"masked dir", nil, "ls -A /sys/firmware | wc -l", "0"},
		{"unmasked", []spec.Option{noMasks}, "[ -c /proc/timer_list ] && echo masked || echo visible", "visible"},
		{"readonly rootfs", nil, "touch /x 2>/dev/null && echo wrote || echo refused", "refused"},
		{"writable rootfs", []spec.Option{spec.WithReadonlyRootfs(false)}, "touch /x 2>/dev/null && echo wrote || echo refused", "wrote"},
		{"env", []spec.Option{spec.WithEnv("GREETING=ahoy")}, "echo $GREETING", "ahoy"},
		{"cwd", []spec.Option{spec.WithCwd("/tmp")}, "pwd", "/tmp"},
		{"nofile rlimit", nil, "ulimit -n", "1024"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			opts := append(tc.opts, spec.WithArgs("sh", "-c", tc.script))
			bundle := newBundle(t, opts...)
			r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			if got := strings.TrimSpace(r.Stdout); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCapabilities checks that CapEff inside equals the spec's set.
func TestCapabilities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		caps []string
	}{
		{"default", spec.Default().Process.Capabilities.Effective},
		{"custom", []string{"CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_SETUID"}},
		{"none", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			bundle := newBundle(t, spec.WithCapabilities(tc.caps...),
				spec.WithArgs("sh", "-c", "grep CapEff /proc/self/status"))
			r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			want := fmt.Sprintf("CapEff:\t%016x", capMask(t, tc.caps))
			if got := strings.TrimSpace(r.Stdout); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func capMask(t *testing.T, names []string) uint64 {
	byName := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		byName["CAP_"+strings.ToUpper(c.String())] = c
	}
	var mask uint64
	for _, n := range names {
		c, ok := byName[n]
		if !ok {
			t.Fatalf("unknown capability %s", n)
		}
		mask |= 1 << uint(c)
	}
	return mask
}

// TestCgroupLimits checks that memory, pids and CPU limits land in the
// container's cgroups.
func TestCgroupLimits(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const mem = 64 << 20
	bundle := newBundle(t, spec.WithArgs("sleep", "100"), spec.WithMemoryLimit(mem),
		spec.WithPidsLimit(42), spec.WithCPUQuota(50000, 100000))
	id := uniqueID(t)
	c.ok("create", "--bundle", bundle, id)
	pid := c.state(id).Pid
	checks := []struct{ controller, file, want string }{
		{"memory", "memory.limit_in_bytes", strconv.Itoa(mem)},
		{"pids", "pids.max", "42"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
	}
	for _, ck := range checks {
		if got := cgroupFile(t, pid, ck.controller, ck.file); got != ck.want {
			t.Errorf("%s/%s = %s, want %s", ck.controller, ck.file, got, ck.want)
		}
	}
	c.ok("delete", "--force", id)
	assertGone(t, c.root, id, bundle, pid)
}

// TestRunFlags exercises --no-pivot, --no-new-keyring and --preserve-fds:
// the container reads a file passed to berth as fd 3.
func TestRunFlags(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	bundle := newBundle(t, spec.WithArgs("sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"))
	passed := tempFile(t)
	if _, err := passed.WriteString("through fd 3\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := passed.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	out := tempFile(t)
	id := uniqueID(t)
	cmd := exec.Command(c.bin, "--root", c.root, "run", "--no-pivot", "--no-new-keyring", "--preserve-fds", "1", "--bundle", bundle, id)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{passed}
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v: %s", err, readBack(t, out))
	}
	// 0, 1, 2, the preserved fd 3, and the fd ls opens on /proc/self/fd.
	if got := readBack(t, out); got != "through fd 3\n5\n" {
		t.Fatalf("output %q", got)
	}
	assertGone(t, c.root, id, bundle, 0)
}
