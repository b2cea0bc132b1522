package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-oci/berth/internal/testutil"
)

// nobody is the unprivileged user the rootless checks run as.
const nobodyUID, nobodyGID = 65534, 65534

// TestRootlessStateRootSideBySide: run by an unprivileged user with
// $XDG_RUNTIME_DIR set, berth keeps its state in $XDG_RUNTIME_DIR/berth as
// runc keeps its in $XDG_RUNTIME_DIR/runc: made on first use, the user's,
// 0700 and sticky; list works there. --rootless takes runc's values, and
// only a command that makes a container refuses a bad one, as runc.
func TestRootlessStateRootSideBySide(t *testing.T) {
	testutil.RequireRoot(t, "runs the binaries as nobody")
	for _, rt := range []struct{ name, bin string }{{"berth", reachableCopy(t, binary(t))}, {"runc", reachableCopy(t, runcBinary(t))}} {
		t.Run(rt.name, func(t *testing.T) {
			// Not t.TempDir: its parent is root's alone.
			xdg, err := os.MkdirTemp("", "berth-xdg-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(xdg) })
			if err := os.Chown(xdg, nobodyUID, nobodyGID); err != nil {
				t.Fatal(err)
			}
			asNobody := func(args ...string) (string, int) {
				cmd := exec.Command(rt.bin, args...)
				cmd.Env = []string{"XDG_RUNTIME_DIR=" + xdg, "PATH=/usr/bin:/bin", "USER=nobody"}
				cmd.Dir = xdg
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyGID}}
				out, err := cmd.CombinedOutput()
				code, exited := testutil.ExitCode(err)
				if !exited {
					t.Fatal(err)
				}
				return string(out), code
			}
			if out, code := asNobody("--rootless=true", "list"); code != 0 || !strings.HasPrefix(out, "ID") {
				t.Fatalf("list: exit %d: %s", code, out)
			}
			root := filepath.Join(xdg, rt.name)
			st, err := os.Stat(root)
			if err != nil {
				t.Fatalf("no state root %s: %v", root, err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			if st.Mode().Perm() != 0o700 || st.Mode()&os.ModeSticky == 0 || sys.Uid != nobodyUID {
				t.Errorf("%s: mode %v, owner %d; want 0700 and sticky, nobody's", root, st.Mode(), sys.Uid)
			}
			if out, code := asNobody("--rootless=maybe", "list"); code != 0 {
				t.Errorf("list with --rootless=maybe: exit %d: %s (runc takes it)", code, out)
			}
			out, code := asNobody("--rootless=maybe", "run", "-b", xdg, "x")
			if code == 0 {
				t.Errorf("run with --rootless=maybe succeeded: %s", out)
			}
			t.Logf("%s run with --rootless=maybe: exit %d: %s", rt.name, code, strings.TrimSpace(out))
			if entries, _ := os.ReadDir(root); len(entries) > 0 {
				t.Errorf("left in %s: %v", root, entries)
			}
		})
	}
}

// reachableCopy copies the executable bin where any user can run it: the
// tree it was built in may be closed to others (a clone under /root).
func reachableCopy(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(bin))
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
