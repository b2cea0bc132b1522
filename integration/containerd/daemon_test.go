// Package containerd tests containerd-shim-berth-v2 under real containerd
// daemons: Debian's 1.6 and 2.2.1, each private (root, state and socket in
// a temporary directory), driven with ctr and containerd's gRPC API.
package containerd

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/berth-oci/berth/shim"
)

const (
	runtimeName = "io.containerd.berth.v2"
	image       = busybox.ImageName
)

// version is one containerd release under test.
type version struct {
	name       string
	containerd string
	ctr        string
	configV    int
	// shimStdio is the shim's stdio mode (shim.StdioEnv) under this
	// daemon: each mode runs every test, under one of the versions.
	shimStdio string
}

func versions(t *testing.T) []version {
	t.Helper()
	testutil.RequireRoot(t, "runs containerd and containers")
	vs := []version{
		{"1.6", envOr("CONTAINERD_16", "/usr/bin/containerd"), envOr("CTR_16", "/usr/bin/ctr"), 2, shim.StdioDirect},
		{"2.2", os.Getenv("CONTAINERD_22"), os.Getenv("CTR_22"), 3, shim.StdioPipes},
	}
	for _, v := range vs {
		for _, bin := range []string{v.containerd, v.ctr} {
			if _, err := os.Stat(bin); bin == "" || err != nil {
				t.Fatalf("containerd %s: binary %q missing (run make test, which installs it)", v.name, bin)
			}
		}
	}
	return vs
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// daemon is a private containerd.
type daemon struct {
	t *testing.T
	v version
	// namespace is per version: ctr puts containers in cgroup
	// /<namespace>/<id>, which parallel daemons must not share.
	namespace string
	dir       string
	sock      string
	cmd       *exec.Cmd
	image     string // OCI tar to import
}

func startDaemon(t *testing.T, v version) *daemon {
	t.Helper()
	shim := os.Getenv("BERTH_SHIM")
	if shim == "" {
		t.Fatal("BERTH_SHIM is not set (run make test)")
	}
	return startDaemonIn(t, v, filepath.Dir(shim), "berthtest-")
}

// startDaemonIn starts a containerd that finds the shim in shimDir, its
// namespace nsPrefix and the version: two daemons of one version at once
// need prefixes of their own (ctr's cgroups are /<namespace>/<id>).
func startDaemonIn(t *testing.T, v version, shimDir, nsPrefix string) *daemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-ctd")
	if err != nil {
		t.Fatal(err)
	}
	// Searchable by all, as /run/containerd is: a user-namespaced
	// container's root must reach its rootfs below it.
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, v: v, dir: dir, sock: filepath.Join(dir, "c.sock"), namespace: nsPrefix + strings.ReplaceAll(v.name, ".", "")}
	disabled := `["io.containerd.grpc.v1.cri"]`
	if v.configV == 3 {
		disabled = `["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]`
	}
	config := fmt.Sprintf(`version = %d
root = "%[2]s/root"
state = "%[2]s/state"
disabled_plugins = %[3]s
[grpc]
  address = "%[2]s/c.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "%[2]s/opt"
`, v.configV, dir, disabled)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d.image = filepath.Join(dir, "busybox.tar")
	if err := busybox.WriteImage(d.image); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cleanup)
	d.start(shimDir)
	d.ctrOK("image", "import", d.image)
	return d
}

// start runs containerd with the shim's directory first in its PATH.
func (d *daemon) start(shimDir string) {
	d.t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command(d.v.containerd, "--config", filepath.Join(d.dir, "config.toml"))
	d.cmd.Env = append(os.Environ(), "PATH="+shimDir+":"+os.Getenv("PATH"), shim.StdioEnv+"="+d.v.shimStdio)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if r := d.ctr("version"); r.Code == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("containerd %s did not come up; log:\n%s", d.v.name, d.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops containerd (only the daemon: shims and tasks live on).
func (d *daemon) stop() {
	hoststate.Terminate(d.cmd, 10*time.Second)
	d.cmd = nil
}

func (d *daemon) log() string {
	data, _ := os.ReadFile(filepath.Join(d.dir, "containerd.log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// cleanup removes every task and container, stops containerd, then stops
// any shim this daemon started (found by its -address), and unmounts.
func (d *daemon) cleanup() {
	if d.cmd != nil {
		for _, id := range strings.Fields(d.ctr("containers", "ls", "-q").Stdout) {
			d.ctr("task", "kill", "-s", "KILL", id)
			d.ctr("task", "rm", "-f", id)
			d.ctr("containers", "rm", id)
		}
	}
	d.stop()
	for _, pid := range d.shimPids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range hoststate.MountsUnder(d.dir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	os.RemoveAll(d.dir)
	// ctr's containers live in /<namespace>/<id>; the namespace's cgroup
	// must be empty by now.
	if err := hoststate.RemoveCgroup(d.namespace); err != nil {
		d.t.Errorf("cgroups left behind: %v", err)
	}
}

// shimPids returns the pids of the berth shim daemons serving this
// containerd.
func (d *daemon) shimPids() []int {
	return hoststate.ShimPids("containerd-shim-berth-v2", d.sock)
}

// result is how a ctr command ended (untrimmed).
type result = testutil.Result

// ctr runs ctr against this daemon in the test namespace.
func (d *daemon) ctr(args ...string) result {
	return d.ctrIn(nil, args...)
}

// ctrArgs is ctr's command line against this daemon in the test
// namespace, with IO FIFOs under the daemon's directory.
func (d *daemon) ctrArgs(args ...string) []string {
	return hoststate.CtrArgs(d.sock, d.namespace, filepath.Join(d.dir, "fifo"), args...)
}

func (d *daemon) ctrIn(stdin []byte, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.v.ctr, d.ctrArgs(args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	r, err := testutil.RunCommand(cmd)
	if err != nil {
		d.t.Fatalf("ctr: %v", err)
	}
	return r
}

func (d *daemon) ctrOK(args ...string) string {
	d.t.Helper()
	r := d.ctr(args...)
	if r.Code != 0 {
		d.t.Fatalf("ctr %v: exit %d: %s\ncontainerd log tail:\n%s", args, r.Code, r.Stderr, d.log())
	}
	return r.Stdout
}

// taskStatus returns the task's status from `ctr task ls`, or "" if none.
func (d *daemon) taskStatus(id string) string {
	for _, line := range strings.Split(d.ctrOK("task", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

func (d *daemon) waitStatus(id, want string) {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := d.taskStatus(id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("task %s is %q, want %q", id, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runDetached starts a long-running container.
func (d *daemon) runDetached(id string, args ...string) {
	d.t.Helper()
	d.ctrOK(append([]string{"run", "-d", "--runtime", runtimeName, image, id}, args...)...)
	d.t.Cleanup(func() { d.remove(id) })
}

// remove kills and removes a container if it is still there.
func (d *daemon) remove(id string) {
	if d.cmd == nil {
		return
	}
	d.ctr("task", "kill", "-s", "KILL", id)
	d.ctr("task", "rm", "-f", id)
	d.ctr("containers", "rm", id)
}

// taskPid returns the init pid of a task from `ctr task ls`.
func (d *daemon) taskPid(id string) int {
	d.t.Helper()
	for _, line := range strings.Split(d.ctrOK("task", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid
		}
	}
	d.t.Fatalf("no task %s", id)
	return 0
}

// bundle returns the task's bundle directory.
func (d *daemon) bundle(id string) string {
	return filepath.Join(d.dir, "state", "io.containerd.runtime.v2.task", d.namespace, id)
}
