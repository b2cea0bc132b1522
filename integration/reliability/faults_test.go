package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/integration/hoststate"
	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/spec"
)

// The CLI's fault cases of make test-reliability: each ends with a clear
// error or a clean recovery, and nothing left behind.

// berthCmd runs the berth CLI with root and returns its output and exit
// code. The output goes through a file: a detached container keeps
// berth's stdout, so a pipe would not end while it runs.
func berthCmd(t *testing.T, bin, root string, args ...string) (string, int) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, append([]string{"--root", root}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	code, exited := testutil.ExitCode(err)
	if !exited {
		t.Fatalf("berth %v: %v", args, err)
	}
	return string(out), code
}

// removeOnFailure removes container id with delete -f when the test ends
// failed before it did so itself.
func removeOnFailure(t *testing.T, bin, root, id string) {
	t.Cleanup(func() {
		if t.Failed() {
			_ = exec.Command(bin, "--root", root, "delete", "-f", id).Run()
		}
	})
}

// withCgroupsPath puts the container in cgroup /<rel>.
func withCgroupsPath(rel string) spec.Option {
	return func(s *specs.Spec) { s.Linux.CgroupsPath = "/" + rel }
}

// TestFaultStateRootFull: a state root on a tmpfs with no room left. run
// fails with an error that says ENOSPC and names the file under the root,
// and leaves no state entry, cgroup or process; once there is room again
// the same id runs.
func TestFaultStateRootFull(t *testing.T) {
	testutil.RequireRoot(t, "mounts a tmpfs and runs containers")
	bin := testutil.Binary(t, "BERTH_BINARY", "../../bin/berth")
	// 8 KiB has room for berth's small create record but not for
	// libcontainer's state.json; a full tmpfs has room for neither.
	for _, tc := range []struct {
		name string
		size string
		fill int
	}{{"full", "8k", 8 << 10}, {"no room for state.json", "16k", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := t.TempDir()
			if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+tc.size); err != nil {
				t.Fatal(err)
			}
			// Cleanups run last first: a container left by a failure goes
			// before its state root is unmounted.
			t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
			root := filepath.Join(mnt, "root")
			if err := os.Mkdir(root, 0o700); err != nil {
				t.Fatal(err)
			}
			filler := filepath.Join(mnt, "filler")
			if tc.fill > 0 {
				// Writes until ENOSPC: the tmpfs is then full.
				_ = os.WriteFile(filler, make([]byte, tc.fill), 0o644)
			}
			id := testutil.UniqueID(t)
			cgroup := "berth-fault-" + id
			bundle := busybox.NewTestBundle(t, spec.WithArgs("sleep", "300"), withCgroupsPath(cgroup))
			out, code := berthCmd(t, bin, root, "run", "-d", "--bundle", bundle, id)
			t.Logf("berth run on a %s tmpfs: exit %d: %s", tc.size, code, strings.TrimSpace(out))
			if code == 0 {
				t.Fatal("run succeeded on a full state root")
			}
			if !strings.Contains(out, "no space left on device") || !strings.Contains(out, root) {
				t.Fatalf("the error does not say ENOSPC and name the state root %s: %s", root, out)
			}
			if entries := hoststate.StateEntries(root); len(entries) > 0 {
				t.Fatalf("state root entries left: %v", entries)
			}
			if dirs := hoststate.CgroupDirs(cgroup); len(dirs) > 0 {
				t.Fatalf("cgroup dirs left: %v", dirs)
			}
			if out, _ := berthCmd(t, bin, root, "list", "-q"); strings.TrimSpace(out) != "" {
				t.Fatalf("list shows %q", out)
			}
			// Room again: the same id runs, and goes.
			os.Remove(filler)
			if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, "size=1m"); err != nil {
				t.Fatal(err)
			}
			removeOnFailure(t, bin, root, id)
			if out, code := berthCmd(t, bin, root, "run", "-d", "--bundle", bundle, id); code != 0 {
				t.Fatalf("run once there is room: exit %d: %s", code, out)
			}
			if out, code := berthCmd(t, bin, root, "delete", "-f", id); code != 0 {
				t.Fatalf("delete -f: exit %d: %s", code, out)
			}
			if dirs := hoststate.CgroupDirs(cgroup); len(dirs) > 0 {
				t.Fatalf("cgroup dirs left after delete: %v", dirs)
			}
		})
	}
}

// TestFaultBundleDeleted: the bundle of a running container is removed.
// state and kill still work, exec fails naming the bundle, and delete
// removes the container with nothing left.
func TestFaultBundleDeleted(t *testing.T) {
	testutil.RequireRoot(t, "runs containers")
	bin := testutil.Binary(t, "BERTH_BINARY", "../../bin/berth")
	root := t.TempDir()
	id := testutil.UniqueID(t)
	cgroup := "berth-fault-" + id
	bundle := busybox.NewTestBundle(t, spec.WithArgs("sleep", "300"), withCgroupsPath(cgroup))
	removeOnFailure(t, bin, root, id)
	if out, code := berthCmd(t, bin, root, "run", "-d", "--bundle", bundle, id); code != 0 {
		t.Fatalf("run: exit %d: %s", code, out)
	}
	if err := os.RemoveAll(bundle); err != nil {
		t.Fatal(err)
	}
	out, code := berthCmd(t, bin, root, "state", id)
	if code != 0 || !strings.Contains(out, `"running"`) {
		t.Fatalf("state after the bundle went: exit %d: %s", code, out)
	}
	out, code = berthCmd(t, bin, root, "exec", id, "true")
	t.Logf("exec with the bundle gone: exit %d: %s", code, strings.TrimSpace(out))
	if code == 0 || !strings.Contains(out, bundle) {
		t.Fatalf("exec did not fail naming the bundle %s: exit %d: %s", bundle, code, out)
	}
	if out, code := berthCmd(t, bin, root, "kill", id, "KILL"); code != 0 {
		t.Fatalf("kill: exit %d: %s", code, out)
	}
	if out, code := berthCmd(t, bin, root, "delete", "-f", id); code != 0 {
		t.Fatalf("delete -f: exit %d: %s", code, out)
	}
	if entries := hoststate.StateEntries(root); len(entries) > 0 {
		t.Fatalf("state root entries left: %v", entries)
	}
	if dirs := hoststate.CgroupDirs(cgroup); len(dirs) > 0 {
		t.Fatalf("cgroup dirs left: %v", dirs)
	}
	fmt.Printf("bundle deleted while running: state ok, exec refused naming the bundle, kill and delete clean\n")
}
