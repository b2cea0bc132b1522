package containerd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/spec"
)

// The fault cases of make test-reliability that go through containerd:
// each ends with a clear error or a clean recovery, and nothing left.

// blockedCreateSpec writes a bundle whose createRuntime hook, run by the
// shim daemon in the middle of Create, records the daemon's pid (its
// parent) and its own, then waits until release exists. It returns the
// spec's path, for ctr run --config.
func blockedCreateSpec(t *testing.T, d *daemon, id string) (config, shimPidFile, hookPidFile, release string) {
	t.Helper()
	dir := t.TempDir()
	shimPidFile, hookPidFile = filepath.Join(dir, "shim.pid"), filepath.Join(dir, "hook.pid")
	release = filepath.Join(dir, "release")
	bundle := filepath.Join(dir, "bundle")
	script := fmt.Sprintf(`echo $PPID > %s; echo $$ > %s; while [ ! -e %s ]; do sleep 0.1; done`, shimPidFile, hookPidFile, release)
	err := busybox.MakeBundle(bundle, spec.WithArgs("sleep", "300"), spec.WithRootPath(filepath.Join(bundle, "rootfs")),
		func(s *specs.Spec) {
			s.Process.Terminal = false
			s.Linux.CgroupsPath = "/" + d.namespace + "/" + id
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", script}}}}
		})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bundle, spec.ConfigName), shimPidFile, hookPidFile, release
}

// waitPidFile waits for a pid written by a hook.
func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && perr == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook did not write %s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killHook stops a blocked hook's shell, a process this test started.
func killHook(t *testing.T, hookPidFile string) {
	if data, err := os.ReadFile(hookPidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// assertContainerGone waits until container id has no task, cgroup or
// mount left, then removes its record.
func assertContainerGone(t *testing.T, d *daemon, id string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := d.taskStatus(id)
		dirs := hoststate.CgroupDirs("/" + d.namespace + "/" + id)
		mounts := hoststate.MountsUnder(d.bundle(id))
		if st == "" && len(dirs) == 0 && len(mounts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: task %q, cgroup dirs %v, mounts %v left", id, st, dirs, mounts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := d.ctr("containers", "rm", id); r.Code != 0 && !strings.Contains(r.Stderr, "not found") {
		t.Fatalf("containers rm %s: exit %d: %s", id, r.Code, r.Stderr)
	}
}

// testShimKilledDuringCreate: SIGKILL the shim daemon while Create runs a
// createRuntime hook. ctr's create fails, and the container's init,
// cgroups and mounts are gone; the namespace's next container runs.
func testShimKilledDuringCreate(t *testing.T, d *daemon) {
	id := "killed-in-create"
	config, shimPidFile, hookPidFile, _ := blockedCreateSpec(t, d, id)
	defer killHook(t, hookPidFile)
	done := make(chan result, 1)
	go func() { done <- d.ctr("run", "-d", "--runtime", runtimeName, "--config", config, id) }()
	shimPid := waitPidFile(t, shimPidFile)
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", shimPid)); filepath.Base(exe) != "containerd-shim-berth-v2" {
		t.Fatalf("the hook's parent %d is %q, not the shim daemon", shimPid, exe)
	}
	if err := syscall.Kill(shimPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.Code == 0 {
		t.Fatal("ctr run succeeded though its shim was killed during Create")
	}
	t.Logf("ctr run after the kill: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	killHook(t, hookPidFile)
	assertContainerGone(t, d, id)
	if r := d.ctr("run", "--rm", "--runtime", runtimeName, image, "after-create-kill", "true"); r.Code != 0 {
		t.Fatalf("run after the shim was killed in Create: exit %d: %s", r.Code, r.Stderr)
	}
}

// testContainerdRestartDuringCreates: SIGKILL containerd in the middle of
// a burst of creates, one of them held inside the shim's Create by a
// hook, and start it again. A create ctr saw succeed is still running; the
// others fail or recover; every container can then be removed, and
// nothing is left.
func testContainerdRestartDuringCreates(t *testing.T, d *daemon) {
	const burst = 6
	held := "burst-held"
	config, _, hookPidFile, release := blockedCreateSpec(t, d, held)
	defer killHook(t, hookPidFile)
	ids := []string{held}
	results := make([]result, burst+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		results[0] = d.ctr("run", "-d", "--runtime", runtimeName, "--config", config, held)
	}()
	waitPidFile(t, hookPidFile)
	for i := 1; i <= burst; i++ {
		id := fmt.Sprintf("burst-%d", i)
		ids = append(ids, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = d.ctr("run", "-d", "--runtime", runtimeName, image, id, "sleep", "300")
		}()
	}
	time.Sleep(150 * time.Millisecond)
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
	d.cmd = nil
	wg.Wait()
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d.start(filepath.Dir(os.Getenv("BERTH_SHIM")))
	outcomes := map[string]int{}
	for i, id := range ids {
		st := d.taskStatus(id)
		if results[i].Code == 0 && st != "RUNNING" {
			t.Errorf("%s: ctr run succeeded before the restart, but the task is %q after it", id, st)
		}
		outcomes[fmt.Sprintf("ctr exit %d, task %q after restart", results[i].Code, st)]++
	}
	t.Logf("%d creates around a containerd SIGKILL: %v", len(ids), outcomes)
	for _, id := range ids {
		d.remove(id)
		assertContainerGone(t, d, id)
	}
	// A daemon that containerd started for a create and then, restarted,
	// never reached again (its bundle had no address yet) holds only an
	// unclaimed pin, and leaves when it expires (30 s, see shim/group.go).
	waitStart := time.Now()
	for len(d.shimPids()) > 0 {
		if time.Since(waitStart) > 40*time.Second {
			t.Fatalf("shim daemons still running 40 s after their containers went: %v", d.shimPids())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the last shim daemon left %v after the containers were removed", time.Since(waitStart).Round(100*time.Millisecond))
}

// testStdoutReaderGone: the reader of a container's stdout FIFO (ctr
// itself) is SIGKILLed while the container writes without pause. The task
// keeps running, and kill, delete and a new container still work, within
// a deadline, with no more daemon fds than before.
func testStdoutReaderGone(t *testing.T, d *daemon) {
	keep := "reader-gone-keeper" // holds the namespace's daemon for the fd count
	d.runDetached(keep, "sleep", "300")
	// One ordinary run first: the daemon opens some fds once, lazily.
	d.ctrOK("run", "--rm", "--runtime", runtimeName, image, "reader-gone-warmup", "true")
	before := d.daemonStats(t, keep)
	id := "reader-gone"
	cmd := exec.Command(d.v.ctr, d.ctrArgs("run", "--runtime", runtimeName, image, id, "sh", "-c", "while true; do echo 0123456789abcdef; done")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.remove(id) })
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("no output from the container: %v", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// Long enough for every buffer on the way to fill.
	time.Sleep(500 * time.Millisecond)
	if st := d.taskStatus(id); st != "RUNNING" {
		t.Fatalf("task is %q once its stdout reader went away", st)
	}
	start := time.Now()
	d.ctrOK("task", "kill", "-s", "SIGKILL", id)
	d.waitStatus(id, "STOPPED")
	d.ctrOK("task", "rm", id)
	d.ctrOK("containers", "rm", id)
	t.Logf("kill and delete with the reader gone took %v", time.Since(start).Round(time.Millisecond))
	if r := d.ctr("run", "--rm", "--runtime", runtimeName, image, "after-reader-gone", "echo", "ok"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "ok" {
		t.Fatalf("run after the reader went away: exit %d, stdout %q: %s", r.Code, r.Stdout, r.Stderr)
	}
	// The daemon's last cleanups run after ctr returns.
	after := d.daemonStats(t, keep)
	for deadline := time.Now().Add(5 * time.Second); after.Fds > before.Fds && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		after = d.daemonStats(t, keep)
	}
	if after.Fds > before.Fds {
		out, _ := exec.Command("ls", "-l", fmt.Sprintf("/proc/%d/fd", after.Pid)).CombinedOutput()
		t.Logf("%s", out)
		t.Fatalf("daemon fds %d before, %d after", before.Fds, after.Fds)
	}
	t.Logf("daemon fds %d before, %d after; goroutines %d, %d", before.Fds, after.Fds, before.Goroutines, after.Goroutines)
}
