package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

func init() {
	// Library tests start containers from this test binary.
	berth.Init()
}

// binary returns the berth CLI under test (BERTH_BINARY, set by make).
func binary(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t, "runs real containers")
	return testutil.Binary(t, "BERTH_BINARY", "../bin/berth")
}

// uniqueID returns a container id unique to this test run.
func uniqueID(t *testing.T) string { return testutil.UniqueID(t) }

// newBundle makes a busybox bundle in a temporary directory.
func newBundle(t *testing.T, opts ...spec.Option) string { return busybox.NewTestBundle(t, opts...) }

// cli runs the berth CLI with a state root.
type cli struct {
	t    *testing.T
	bin  string
	root string
}

func newCLI(t *testing.T) *cli {
	c := &cli{t: t, bin: binary(t), root: t.TempDir()}
	t.Cleanup(func() { c.removeAll() })
	return c
}

// result is what a CLI invocation printed and how it exited (untrimmed,
// unlike testutil.RunCommand's: the tests compare exact output).
type result = testutil.Result

// run runs berth with --root and args, stdin from in (may be nil).
func (c *cli) run(in []byte, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--root", c.root}, args...)...)
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	return runCommand(c.t, cmd)
}

// runCommand runs cmd and returns what it printed and its exit code
// (testutil.RunCommand); a command that cannot run at all fails the test.
func runCommand(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	r, err := testutil.RunCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ok runs berth and fails the test unless it exits 0.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(nil, args...)
	if r.Code != 0 {
		c.t.Fatalf("berth %v: exit %d, stderr: %s", args, r.Code, r.Stderr)
	}
	return r.Stdout
}

// state returns `berth state id` decoded.
func (c *cli) state(id string) berth.State {
	c.t.Helper()
	var st berth.State
	if err := json.Unmarshal([]byte(c.ok("state", id)), &st); err != nil {
		c.t.Fatalf("state %s: %v", id, err)
	}
	return st
}

// waitStatus polls until the container has the wanted status.
func (c *cli) waitStatus(id string, want berth.Status) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := c.state(id)
		if st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("container %s is %s, want %s", id, st.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeAll force-deletes every container the test left under its root.
func (c *cli) removeAll() {
	entries, _ := os.ReadDir(c.root)
	for _, e := range entries {
		_ = exec.Command(c.bin, "--root", c.root, "delete", "--force", e.Name()).Run()
	}
}

// assertGone checks that container id left nothing behind: no state
// directory, no cgroup, no mount under the bundle, and (if pid > 0) no
// process.
func assertGone(t *testing.T, root, id, bundle string, pid int) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(root, id)); err == nil {
		t.Errorf("state directory %s is left behind", filepath.Join(root, id))
	}
	if dirs := cgroupDirs(id); len(dirs) > 0 {
		t.Errorf("cgroups left behind: %v", dirs)
	}
	if bundle != "" {
		if m := hoststate.MountsUnder(bundle); len(m) > 0 {
			t.Errorf("mounts left behind under %s: %v", bundle, m)
		}
	}
	if pid > 0 && !processGone(pid) {
		t.Errorf("process %d is left behind", pid)
	}
}

// cgroupDirs returns the cgroup directories named id, at any depth that a
// container's cgroup can have on this host.
func cgroupDirs(id string) []string {
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Count(path, "/") > 7 {
			return fs.SkipDir
		}
		if d.Name() == id {
			found = append(found, path)
			return fs.SkipDir
		}
		return nil
	})
	return found
}

// cgroupFile reads a cgroup v1 file of process pid's controller.
func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] == controller {
			v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, parts[2], file))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(v))
		}
	}
	t.Fatalf("process %d has no %s cgroup", pid, controller)
	return ""
}

func tempFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readBack(t *testing.T, f *os.File) string {
	t.Helper()
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// processGone waits up to 5s for pid to disappear. A container's init
// whose creator exited is reaped by the host's init, which takes a moment.
func processGone(pid int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// waitSignalHandled waits until process pid has a handler for sig (its
// SigCgt mask in /proc/<pid>/status): a pid namespace's init ignores
// signals it does not handle, so a test must not signal it before.
func waitSignalHandled(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if mask, ok := strings.CutPrefix(line, "SigCgt:"); ok {
					if m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64); err == nil && m&(1<<(uint(sig)-1)) != 0 {
						return
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never installed a handler for %v", pid, sig)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
