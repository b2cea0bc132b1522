package cgroups

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-oci/berth/internal/testutil"
)

// TestJoinProcess moves a child into a cgroup made for the test in every
// v1 hierarchy (or the v2 one) and finds it there; a cgroup that does not
// exist, or a relative path, is refused, creating nothing.
func TestJoinProcess(t *testing.T) {
	testutil.RequireRoot(t, "makes cgroups")
	name := "/berth-join-test-" + strconv.Itoa(os.Getpid())
	if err := JoinProcess(name, os.Getpid()); !errors.Is(err, ErrNoSuchCgroup) {
		t.Fatalf("missing cgroup: %v, want ErrNoSuchCgroup", err)
	}
	if err := JoinProcess("relative", os.Getpid()); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("relative path: %v", err)
	}
	roots := []string{"/sys/fs/cgroup"}
	if HostMode() != V2 {
		roots = []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"}
	}
	var made []string
	for _, r := range roots {
		d := filepath.Join(r, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		made = append(made, d)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for _, d := range made {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove %s: %v", d, err)
			}
		}
	}()
	if err := JoinProcess(name, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for _, d := range made {
		procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil || strings.TrimSpace(string(procs)) != strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("%s holds %q (%v), want %d", d, procs, err, cmd.Process.Pid)
		}
	}
}
