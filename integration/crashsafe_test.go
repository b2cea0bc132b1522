package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/spec"
)

// withBlockingHook adds a hook of the given kind that writes its pid to
// pidFile and then sleeps: the runtime is held inside its create at that
// point for as long as the test wants.
func withBlockingHook(kind, pidFile string) spec.Option {
	return func(s *specs.Spec) {
		h := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo $$ > " + pidFile + "; exec sleep 600"}}
		if s.Hooks == nil {
			s.Hooks = &specs.Hooks{}
		}
		switch kind {
		case "createRuntime":
			s.Hooks.CreateRuntime = append(s.Hooks.CreateRuntime, h)
		case "prestart":
			s.Hooks.Prestart = append(s.Hooks.Prestart, h) //nolint:staticcheck // runc still runs it
		case "poststart":
			s.Hooks.Poststart = append(s.Hooks.Poststart, h)
		}
	}
}

// startKillable starts `<bin> --root root run -d` of bundle as id and
// returns the command, to be killed by the test.
func startKillable(t *testing.T, c *cli, bundle, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(c.bin, "--root", c.root, "run", "-d", "--bundle", bundle, id)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// waitPidFile waits up to 10s for a hook's pid file and returns the pid.
func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no hook pid in %s after 10s", path)
	return 0
}

// TestCrashSafeCreate kills `berth run -d` with SIGKILL while it is held
// at points inside its create, by hooks that block (createRuntime and
// prestart: cgroups made, no state yet; poststart: the container exists).
// `list` must show the id, and `delete --force` must leave nothing: no
// state directory, no cgroup in any hierarchy, no process. runc v1.5.2 is
// run the same way, and what it leaves is reported.
func TestCrashSafeCreate(t *testing.T) {
	t.Parallel()
	for _, hook := range []string{"createRuntime", "prestart", "poststart"} {
		t.Run(hook, func(t *testing.T) {
			for name, c := range sideBySide(t) {
				pidFile := filepath.Join(t.TempDir(), "hook.pid")
				bundle := newBundle(t, spec.WithArgs("sleep", "600"), withBlockingHook(hook, pidFile))
				id := uniqueID(t)
				cmd := startKillable(t, c, bundle, id)
				hookPid := waitPidFile(t, pidFile)
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				_ = syscall.Kill(hookPid, syscall.SIGKILL)
				listed := strings.Contains(c.run(nil, "list", "-q").Stdout, id)
				del := c.run(nil, "delete", "--force", id)
				left := cgroupDirs(id)
				if name == "runc" {
					t.Logf("runc, killed in %s: listed %v, delete --force exit %d, %d cgroup dirs left", hook, listed, del.Code, len(left))
					removeCgroups(left) // a test leaves nothing: runc's leak goes here
					continue
				}
				if !listed {
					t.Errorf("killed in %s: list does not show %s", hook, id)
				}
				if del.Code != 0 {
					t.Errorf("killed in %s: delete --force exit %d: %s", hook, del.Code, del.Stderr)
				}
				assertGone(t, c.root, id, bundle, 0)
				if _, err := os.Stat(filepath.Join(c.root, "@creating")); err == nil {
					t.Errorf("killed in %s: the record of the create is left", hook)
				}
			}
		})
	}
}

// TestCrashSafeCreateRandomKills kills `berth run -d` at random moments of
// its create and start (0 to 80 ms after it starts), 20 times per runtime,
// then deletes each id with --force, and counts the cgroup directories
// left: none for berth. runc's count is reported.
func TestCrashSafeCreateRandomKills(t *testing.T) {
	t.Parallel()
	const runs = 20
	for name, c := range sideBySide(t) {
		bundle := newBundle(t, spec.WithArgs("sleep", "600"))
		left := 0
		for i := range runs {
			id := fmt.Sprintf("%s-%d", uniqueID(t), i)
			cmd := startKillable(t, c, bundle, id)
			time.Sleep(time.Duration(rand.IntN(80)) * time.Millisecond)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			c.run(nil, "delete", "--force", id)
			dirs := cgroupDirs(id)
			left += len(dirs)
			if name == "runc" {
				removeCgroups(dirs)
			}
		}
		t.Logf("%s: %d runs killed at random, %d cgroup dirs left after delete --force", name, runs, left)
		if name == "berth" && left > 0 {
			t.Errorf("berth left %d cgroup dirs after %d killed creates", left, runs)
		}
	}
}

// removeCgroups kills the processes left in cgroup directories (by the pid
// each lists) and removes the directories.
func removeCgroups(dirs []string) {
	for _, d := range dirs {
		if data, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	for _, d := range dirs {
		for range 50 {
			if err := os.Remove(d); err == nil || os.IsNotExist(err) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestCorruptStateDeleteForce: a running container whose state.json is
// truncated is reported clearly by state and list, and delete --force
// still removes it: its processes, cgroups and state directory (the
// cgroup record kept beside the state finds them). runc's outcome is
// reported.
func TestCorruptStateDeleteForce(t *testing.T) {
	t.Parallel()
	for name, c := range sideBySide(t) {
		bundle := newBundle(t, spec.WithArgs("sleep", "600"))
		id := uniqueID(t)
		c.ok("run", "-d", "--bundle", bundle, id)
		pid := c.state(id).Pid
		if err := os.Truncate(filepath.Join(c.root, id, "state.json"), 100); err != nil {
			t.Fatal(err)
		}
		st := c.run(nil, "state", id)
		list := c.run(nil, "list")
		del := c.run(nil, "delete", "--force", id)
		if name == "runc" {
			t.Logf("runc with a truncated state.json: state exit %d, list exit %d, delete --force exit %d (%s), %d cgroup dirs left",
				st.Code, list.Code, del.Code, strings.TrimSpace(del.Stderr), len(cgroupDirs(id)))
			removeCgroups(cgroupDirs(id))
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_ = os.RemoveAll(filepath.Join(c.root, id))
			continue
		}
		if st.Code == 0 || !strings.Contains(st.Stderr, id) {
			t.Errorf("state of a corrupt container: exit %d, %q; want an error naming it", st.Code, st.Stderr)
		}
		if list.Code != 0 || !strings.Contains(list.Stderr, id) {
			t.Errorf("list with a corrupt container: exit %d, %q; want a warning naming it", list.Code, list.Stderr)
		}
		if del.Code != 0 {
			t.Fatalf("delete --force of a corrupt container: exit %d: %s", del.Code, del.Stderr)
		}
		assertGone(t, c.root, id, bundle, 0)
		if !processDeadOrZombie(pid) {
			t.Errorf("init %d still runs", pid)
		}
	}
}

// processDeadOrZombie waits up to 5s for pid to be gone or a zombie (the
// host's init reaps reparented processes late).
func processDeadOrZombie(pid int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
