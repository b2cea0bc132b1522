package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/spec"
)

// rootlessUser runs one runtime's CLI as nobody, with its own
// $XDG_RUNTIME_DIR (so its default state root, as runc's, is
// $XDG_RUNTIME_DIR/<runtime>) and bundles nobody can read.
type rootlessUser struct {
	t        *testing.T
	name     string // berth or runc
	bin      string
	xdg, dir string
}

func newRootlessUser(t *testing.T, name, bin string) *rootlessUser {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	u := &rootlessUser{t: t, name: name, bin: bin, xdg: filepath.Join(dir, "xdg"), dir: dir}
	if err := os.Mkdir(u.xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		root := filepath.Join(u.xdg, name)
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			u.run("delete", "--force", e.Name())
		}
		os.RemoveAll(dir)
	})
	if err := os.Chown(dir, nobodyUID, nobodyGID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(u.xdg, nobodyUID, nobodyGID); err != nil {
		t.Fatal(err)
	}
	return u
}

// bundle writes a busybox bundle for nobody: the rootless spec (user
// namespace, no network namespace, no cgroup resources) with the given
// mappings (nil: nobody's own ids as root), then opts.
func (u *rootlessUser) bundle(name string, maps []specs.LinuxIDMapping, opts ...spec.Option) string {
	u.t.Helper()
	if maps == nil {
		maps = []specs.LinuxIDMapping{{ContainerID: 0, HostID: nobodyUID, Size: 1}}
	}
	rootless := func(s *specs.Spec) {
		spec.Rootless(s)
		s.Linux.UIDMappings = maps
		gids := make([]specs.LinuxIDMapping, len(maps))
		copy(gids, maps)
		s.Linux.GIDMappings = gids
		s.Process.Terminal = false
	}
	dir := filepath.Join(u.dir, name)
	if err := busybox.MakeBundle(dir, append([]spec.Option{rootless}, opts...)...); err != nil {
		u.t.Fatal(err)
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobodyUID, nobodyGID)
	}); err != nil {
		u.t.Fatal(err)
	}
	return dir
}

// run runs the CLI as nobody.
func (u *rootlessUser) run(args ...string) result {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.bin, args...)
	cmd.Env = []string{"XDG_RUNTIME_DIR=" + u.xdg, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "USER=nobody", "HOME=" + u.dir}
	cmd.Dir = u.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyGID}}
	return runCommand(u.t, cmd)
}

// status is the container's status, or "gone".
func (u *rootlessUser) status(id string) string {
	r := u.run("state", id)
	var st struct{ Status string }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil {
		return "gone"
	}
	return st.Status
}

func (u *rootlessUser) waitStatus(id, want string) string {
	var got string
	for i := 0; i < 100; i++ {
		if got = u.status(id); got == want {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return got
}

// leftovers lists what the user's state root holds.
func (u *rootlessUser) leftovers() []string {
	entries, _ := os.ReadDir(filepath.Join(u.xdg, u.name))
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") { // berth's seccomp cache
			names = append(names, e.Name())
		}
	}
	return names
}

// firstLine is an error's first line, as a user sees it.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// rootlessScenario is one sequence an unprivileged user runs; it returns
// what it saw, which must be the same for berth and for runc.
type rootlessScenario struct {
	name string
	// subids: the scenario maps a range of nobody's subordinate ids
	// (newuidmap and newgidmap).
	subids bool
	steps  func(t *testing.T, u *rootlessUser) string
}

var rootlessScenarios = []rootlessScenario{
	{name: "run in the foreground", steps: func(t *testing.T, u *rootlessUser) string {
		b := u.bundle("fg", nil, spec.WithArgs("sh", "-c", "id -u; tr -s ' ' < /proc/self/uid_map; exit 3"))
		r := u.run("run", "-b", b, "fg")
		return fmt.Sprintf("exit %d: %q; left %v", r.Code, r.Stdout, u.leftovers())
	}},
	{name: "run -d, exec, ps, kill, delete", steps: func(t *testing.T, u *rootlessUser) string {
		b := u.bundle("life", nil, spec.WithArgs("sleep", "1000"))
		var seen []string
		r := u.run("run", "-d", "-b", b, "life")
		seen = append(seen, fmt.Sprintf("run -d %d", r.Code), u.waitStatus("life", "running"))
		r = u.run("exec", "life", "sh", "-c", "id -u; echo $$")
		seen = append(seen, fmt.Sprintf("exec %d %q", r.Code, firstLine(r.Stdout)))
		r = u.run("ps", "--format", "json", "life")
		var pids []int
		_ = json.Unmarshal([]byte(r.Stdout), &pids)
		seen = append(seen, fmt.Sprintf("ps %d: %d pids", r.Code, len(pids)))
		r = u.run("kill", "life", "KILL")
		seen = append(seen, fmt.Sprintf("kill %d", r.Code), u.waitStatus("life", "stopped"))
		r = u.run("delete", "life")
		seen = append(seen, fmt.Sprintf("delete %d", r.Code), u.status("life"), fmt.Sprintf("left %v", u.leftovers()))
		return strings.Join(seen, ", ")
	}},
	{name: "pause without a delegated cgroup", steps: func(t *testing.T, u *rootlessUser) string {
		b := u.bundle("pause", nil, spec.WithArgs("sleep", "1000"))
		u.run("run", "-d", "-b", b, "pause")
		st := u.waitStatus("pause", "running")
		r := u.run("pause", "pause")
		t.Logf("%s pause: exit %d: %s", u.name, r.Code, firstLine(r.Stderr))
		after := u.status("pause")
		u.run("resume", "pause")
		d := u.run("delete", "--force", "pause")
		return fmt.Sprintf("%s, pause exit %v, then %s, delete -f %d, left %v", st, r.Code != 0, after, d.Code, u.leftovers())
	}},
	{name: "a terminal through the console socket", steps: func(t *testing.T, u *rootlessUser) string {
		b := u.bundle("tty", nil, spec.WithTerminal(true), spec.WithArgs("sh", "-c", "tty; sleep 1000"))
		sock := filepath.Join(u.dir, "console.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if err := os.Chown(sock, nobodyUID, nobodyGID); err != nil {
			t.Fatal(err)
		}
		masters := make(chan *os.File, 1)
		go func() { masters <- acceptConsole(ln) }()
		r := u.run("run", "-d", "--console-socket", sock, "-b", b, "tty")
		printed := "no terminal received"
		select {
		case m := <-masters:
			if m != nil {
				defer m.Close()
				_ = m.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 256)
				n, _ := m.Read(buf)
				printed = strings.TrimSpace(string(buf[:n]))
			}
		case <-time.After(20 * time.Second):
		}
		d := u.run("delete", "--force", "tty")
		return fmt.Sprintf("run -d %d, printed %q, delete -f %d, left %v", r.Code, printed, d.Code, u.leftovers())
	}},
	{name: "a memory limit without a delegated cgroup", steps: func(t *testing.T, u *rootlessUser) string {
		b := u.bundle("mem", nil, spec.WithMemoryLimit(64<<20), spec.WithArgs("true"))
		r := u.run("run", "-b", b, "mem")
		t.Logf("%s run with a memory limit: exit %d: %s", u.name, r.Code, strings.TrimSpace(r.Stderr))
		return fmt.Sprintf("exit %v, left %v", r.Code != 0, u.leftovers())
	}},
	{name: "a mapping of ids not the user's", steps: func(t *testing.T, u *rootlessUser) string {
		b := u.bundle("notmine", []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}, spec.WithArgs("true"))
		r := u.run("run", "-b", b, "notmine")
		t.Logf("%s run mapping root's id: exit %d: %s", u.name, r.Code, firstLine(r.Stderr))
		return fmt.Sprintf("exit %v, left %v", r.Code != 0, u.leftovers())
	}},
	{name: "a range of subordinate ids", subids: true, steps: func(t *testing.T, u *rootlessUser) string {
		maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: nobodyUID, Size: 1}, {ContainerID: 1, HostID: 200000, Size: 65536}}
		b := u.bundle("range", maps, spec.WithArgs("sh", "-c", "id -u; id -g; tr -s ' ' < /proc/self/uid_map"), func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000}
		})
		r := u.run("run", "-b", b, "range")
		return fmt.Sprintf("exit %d: %q %s; left %v", r.Code, r.Stdout, firstLine(r.Stderr), u.leftovers())
	}},
}

// acceptConsole takes the one connection of a console socket and returns
// the terminal's master end it carries (nil if none).
func acceptConsole(ln *net.UnixListener) *os.File {
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil
	}
	defer conn.Close()
	master, err := testutil.ReceiveFd(conn)
	if err != nil {
		return nil
	}
	return master
}

// TestRootlessSideBySide runs, as the unprivileged user nobody, the same
// sequences with berth and runc v1.5.2 and requires berth to see what runc
// sees: a container in nobody's user namespace, its lifecycle, a terminal,
// a subordinate id range through newuidmap, and the refusals of what an
// unprivileged user cannot do, each leaving nothing in the state root.
// (Debian's crun 1.8.1 refuses to start on this cgroup v1 hybrid host.)
func TestRootlessSideBySide(t *testing.T) {
	testutil.RequireRoot(t, "runs the binaries as nobody")
	bins := map[string]string{"berth": reachableCopy(t, binary(t)), "runc": reachableCopy(t, runcBinary(t))}
	for _, sc := range rootlessScenarios {
		t.Run(sc.name, func(t *testing.T) {
			if sc.subids {
				testutil.WithSubids(t, "nobody", 200000, 65536)
			}
			seen := map[string]string{}
			for _, name := range []string{"berth", "runc"} {
				seen[name] = sc.steps(t, newRootlessUser(t, name, bins[name]))
				t.Logf("%s: %s", name, seen[name])
			}
			if seen["berth"] != seen["runc"] {
				t.Errorf("berth saw %s; runc saw %s", seen["berth"], seen["runc"])
			}
		})
	}
}
