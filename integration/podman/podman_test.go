// Package podman is the podman lane (make test-podman): Debian's podman 4.3
// and conmon drive berth as a runc drop-in, with podman's default seccomp
// profile and no network, side by side with runc v1.5.2. A check that
// passes with runc must pass with berth.
package podman

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
)

const image = busybox.ImageName

// podman runs podman with a private storage root for one runtime.
type podman struct {
	runtime string // the OCI runtime binary podman drives
	dir     string
	// uid is the user podman runs as: 0, or nobody's for rootless podman,
	// whose home and XDG directories are under dir.
	uid int
}

// nobody is the user rootless podman runs as.
const nobodyUID, nobodyGID = 65534, 65534

func (p *podman) globalArgs() []string {
	args := []string{
		"--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "run"),
		"--tmpdir", filepath.Join(p.dir, "tmp"), "--network-config-dir", filepath.Join(p.dir, "net"),
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", p.runtime,
	}
	if p.uid != 0 {
		// No overlay mounts for a user here (fuse-overlayfs is not
		// asked for): vfs copies.
		args = append(args, "--storage-driver", "vfs")
	}
	return args
}

// run runs one podman command.
func (p *podman) run(args ...string) testutil.Result { return p.runEnv(nil, args...) }

// runEnv runs one podman command with env added to the test's.
func (p *podman) runEnv(env []string, args ...string) testutil.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", append(p.globalArgs(), args...)...)
	cmd.Env = append(os.Environ(), env...)
	if p.uid != 0 {
		home := filepath.Join(p.dir, "home")
		cmd.Env = append([]string{"HOME=" + home, "USER=nobody", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"XDG_RUNTIME_DIR=" + filepath.Join(p.dir, "xdg"), "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
			"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share")}, env...)
		cmd.Dir = p.dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(p.uid), Gid: nobodyGID}}
	}
	r, err := testutil.RunCommand(cmd)
	if err != nil {
		return testutil.Result{Code: -1, Stderr: err.Error()}
	}
	return r.Trim()
}

// containerArgs are the flags every container of the lane gets: no network,
// and the rlimits this VM can grant (its root lacks CAP_SYS_RESOURCE, so
// podman's defaults above the hard limits fail under any runtime).
var containerArgs = []string{"--pull", "never", "--network", "none", "--log-driver", "k8s-file",
	"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"}

func (p *podman) runContainer(args ...string) testutil.Result {
	return p.run(append(append([]string{"run"}, containerArgs...), args...)...)
}

// inspect returns a field of a container's podman inspect.
func (p *podman) inspect(name, format string) string {
	return p.run("inspect", "--format", format, name).Stdout
}

// waitState waits up to 15s for the container to reach status.
func (p *podman) waitState(name, status string) string {
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := p.inspect(name, "{{.State.Status}}")
		if got == status || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check is one thing a podman user does; it returns what happened, to be
// compared with want.
type check struct {
	name string
	want string
	do   func(p *podman) string
}

var checks = []check{
	{"--sdnotify=container: the container's READY reaches NOTIFY_SOCKET", "READY=1", func(p *podman) string {
		sdnotify, err := busybox.SdnotifyBinary()
		if err != nil {
			return err.Error()
		}
		host, err := listenNotify(filepath.Join(p.dir, "notify.sock"))
		if err != nil {
			return err.Error()
		}
		defer host.Close()
		if err := os.Chown(host.LocalAddr().String(), p.uid, p.uid); err != nil {
			return err.Error()
		}
		r := p.runEnv([]string{"NOTIFY_SOCKET=" + host.LocalAddr().String()},
			append(append([]string{"run"}, containerArgs...), "-d", "--name", "n1", "--sdnotify=container",
				"-v", sdnotify+":/bin/sdnotify:ro", image, "sh", "-c", "sleep 0.5; sdnotify READY=1; sleep 300")...)
		defer p.run("rm", "--force", "--time", "0", "n1")
		if r.Code != 0 {
			return r.Outcome()
		}
		return readyFrom(host, 20*time.Second)
	}},
	{"run --rm exit code", "exit 3 , removed", func(p *podman) string {
		r := p.runContainer("--rm", "--name", "rm1", image, "sh", "-c", "exit 3")
		gone := "removed"
		if p.run("container", "exists", "rm1").Code == 0 {
			gone = "left behind"
		}
		return r.Outcome() + ", " + gone
	}},
	{"run stdout", "exit 0 hello", func(p *podman) string {
		return p.runContainer("--rm", image, "echo", "hello").Outcome()
	}},
	{"default seccomp profile applies", "exit 0 Seccomp:\t2", func(p *podman) string {
		return p.runContainer("--rm", image, "grep", "Seccomp:", "/proc/self/status").Outcome()
	}},
	{"detached run and logs", "running, logs: started", func(p *podman) string {
		if r := p.runContainer("-d", "--name", "d1", image, "sh", "-c", "echo started; sleep 300 & wait"); r.Code != 0 {
			return r.Outcome()
		}
		state := p.waitState("d1", "running")
		var logs string
		for i := 0; i < 50 && !strings.Contains(logs, "started"); i++ {
			logs = p.run("logs", "d1").Stdout
			time.Sleep(100 * time.Millisecond)
		}
		return state + ", logs: " + logs
	}},
	{"exec", "exit 5 in-exec", func(p *podman) string {
		return p.run("exec", "d1", "sh", "-c", "echo in-exec; exit 5").Outcome()
	}},
	{"exec with a tty", "exit 0 /dev/pts", func(p *podman) string {
		r := p.run("exec", "-t", "d1", "tty")
		r.Stdout = strings.TrimRight(strings.TrimSpace(r.Stdout), "0123456789")
		r.Stdout = strings.TrimSuffix(r.Stdout, "/")
		return r.Outcome()
	}},
	{"pause and unpause", "paused, running", func(p *podman) string {
		if r := p.run("pause", "d1"); r.Code != 0 {
			return r.Outcome()
		}
		paused := p.inspect("d1", "{{.State.Status}}")
		if r := p.run("unpause", "d1"); r.Code != 0 {
			return paused + ", " + r.Outcome()
		}
		return paused + ", " + p.inspect("d1", "{{.State.Status}}")
	}},
	{"stats", "exit 0 pids 2", func(p *podman) string {
		r := p.run("stats", "--no-stream", "--format", "pids {{.PIDs}}", "d1")
		return r.Outcome()
	}},
	{"kill", "exited 137", func(p *podman) string {
		if r := p.run("kill", "d1"); r.Code != 0 {
			return r.Outcome()
		}
		return p.waitState("d1", "exited") + " " + p.inspect("d1", "{{.State.ExitCode}}")
	}},
	{"stop", "exited 0", func(p *podman) string {
		if r := p.runContainer("-d", "--name", "s1", image, "sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"); r.Code != 0 {
			return r.Outcome()
		}
		p.waitState("s1", "running")
		time.Sleep(200 * time.Millisecond) // the trap is set once sh runs
		if r := p.run("stop", "-t", "10", "s1"); r.Code != 0 {
			return r.Outcome()
		}
		return p.inspect("s1", "{{.State.Status}}") + " " + p.inspect("s1", "{{.State.ExitCode}}")
	}},
	{"memory limit", "exit 0 67108864", func(p *podman) string {
		return p.runContainer("--rm", "--memory", "64m", image, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes").Outcome()
	}},
	{"pids limit", "exit 0 50", func(p *podman) string {
		return p.runContainer("--rm", "--pids-limit", "50", image, "cat", "/sys/fs/cgroup/pids/pids.max").Outcome()
	}},
	{"env", "exit 0 bar", func(p *podman) string {
		return p.runContainer("--rm", "-e", "FOO=bar", image, "sh", "-c", "echo $FOO").Outcome()
	}},
	{"user", "exit 0 1000:1000", func(p *podman) string {
		return p.runContainer("--rm", "--user", "1000:1000", image, "sh", "-c", "echo $(id -u):$(id -g)").Outcome()
	}},
	{"read-only rootfs", "exit 0 read-only", func(p *podman) string {
		return p.runContainer("--rm", "--read-only", image, "sh", "-c", "touch /x 2>/dev/null && echo writable || echo read-only").Outcome()
	}},
	{"create, start --attach", "exit 4 attached", func(p *podman) string {
		create := append(append([]string{"create"}, containerArgs...), "--name", "c1", image, "sh", "-c", "echo attached; exit 4")
		if r := p.run(create...); r.Code != 0 {
			return r.Outcome()
		}
		return p.run("start", "--attach", "c1").Outcome()
	}},
}

// runtimes are the runtimes of the lane: runc first, the reference.
func runtimes(t *testing.T) []string {
	testutil.RequireRoot(t, "podman runs rootful containers")
	out := []string{testutil.Binary(t, "RUNC_BINARY", ""), testutil.Binary(t, "BERTH_BINARY", "")}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman: %v (make test-podman installs it)", err)
	}
	return out
}

// newPodman prepares a private podman for a runtime with the busybox
// image loaded, and removes everything it made when the test ends. With
// uid nobody's, podman is rootless: its directories are nobody's, and the
// runtime a copy nobody can run.
func newPodman(t *testing.T, runtime string, uid int) *podman {
	dir, err := os.MkdirTemp("", "berth-podman")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{runtime: runtime, dir: dir, uid: uid}
	if uid != 0 {
		for _, d := range []string{"home", "xdg", "bin"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(runtime)
		if err != nil {
			t.Fatal(err)
		}
		p.runtime = filepath.Join(dir, "bin", filepath.Base(runtime))
		if err := os.WriteFile(p.runtime, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(path, uid, nobodyGID)
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		p.run("rm", "--all", "--force", "--time", "0")
		if r := p.run("system", "reset", "--force"); r.Code != 0 {
			t.Errorf("podman system reset: %s", r.Stderr)
		}
		// Rootless podman keeps a pause process holding its user
		// namespace; it is this test's to stop.
		if data, err := os.ReadFile(filepath.Join(dir, "xdg", "libpod", "tmp", "pause.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if m := hoststate.MountsUnder(dir); len(m) > 0 {
			t.Errorf("mounts left under %s: %v", dir, m)
		}
		_ = os.RemoveAll(dir)
	})
	archive := filepath.Join(dir, "busybox.tar")
	if err := busybox.WriteImage(archive); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(archive, uid, nobodyGID); uid != 0 && err != nil {
		t.Fatal(err)
	}
	if r := p.run("load", "--input", archive); r.Code != 0 {
		t.Fatalf("podman load: %s", r.Stderr)
	}
	return p
}

// TestPodman runs every check with runc and with berth (each in its own
// podman storage, the two in parallel) and fails where runc passes and
// berth does not.
func TestPodman(t *testing.T) {
	rts := runtimes(t)
	// podman's cgroupfs manager makes /libpod_parent (and conmon's cgroup
	// below it) in every hierarchy and leaves them: remove them unless
	// they were there before.
	if _, err := os.Stat("/sys/fs/cgroup/pids/libpod_parent"); os.IsNotExist(err) {
		t.Cleanup(func() {
			for _, rel := range []string{"libpod_parent/conmon", "libpod_parent"} {
				if err := hoststate.RemoveCgroup(rel); err != nil {
					t.Errorf("remove podman's cgroups: %v", err)
				}
			}
		})
	}
	compareRuntimes(t, "podman lane", rts, checks, 0)
}

// rootlessChecks are the checks rootless podman runs: all but those that
// need a cgroup of the user's own (pause, stats, limits), which a cgroup v1
// host does not delegate.
var rootlessChecks = func() []check {
	skip := map[string]bool{"pause and unpause": true, "stats": true, "memory limit": true, "pids limit": true}
	var out []check
	for _, c := range checks {
		if !skip[c.name] {
			out = append(out, c)
		}
	}
	return out
}()

// TestPodmanRootless runs the checks rootless podman can run, as the user
// nobody (vfs storage, a subordinate id range for its user namespace),
// with runc and with berth side by side, and fails where runc passes and
// berth does not.
func TestPodmanRootless(t *testing.T) {
	rts := runtimes(t)
	testutil.WithSubids(t, "nobody", 200000, 65536)
	compareRuntimes(t, "rootless podman lane", rts, rootlessChecks, nobodyUID)
}

// compareRuntimes runs cs with each runtime (each in its own podman
// storage, the runtimes in parallel), as uid, and fails where runc passes
// and berth does not.
func compareRuntimes(t *testing.T, lane string, rts []string, cs []check, uid int) {
	got := make([][]string, len(rts))
	var wg sync.WaitGroup
	for i, rt := range rts {
		p := newPodman(t, rt, uid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range cs {
				got[i] = append(got[i], c.do(p))
			}
		}()
	}
	wg.Wait()
	expected := make([]testutil.Expected, len(cs))
	for i, c := range cs {
		expected[i] = testutil.Expected{Name: c.name, Want: c.want}
	}
	testutil.CompareToReference(t, lane, expected, got[0], got[1])
}

// listenNotify is the caller's NOTIFY_SOCKET (systemd's, for a service).
func listenNotify(path string) (*net.UnixConn, error) {
	return net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
}

// readyFrom returns the READY= line the socket gets within d, closing the
// fds that come with the messages (a BARRIER=1's pipe, which systemd
// closes), or what came instead.
func readyFrom(conn *net.UnixConn, d time.Duration) string {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	var got []string
	for {
		msg, files, err := testutil.ReadMessage(conn)
		if err != nil {
			return fmt.Sprintf("no READY (%v); got %q", err, got)
		}
		testutil.CloseAll(files)
		for _, line := range strings.Split(msg, "\n") {
			if strings.HasPrefix(line, "READY=") {
				return line
			}
			got = append(got, line)
		}
	}
}
