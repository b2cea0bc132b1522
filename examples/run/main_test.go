package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	"github.com/berth-oci/berth/spec"
)

// TestExampleRun builds this example as its own program and runs a busybox
// bundle with it, so the library's public API stays usable from outside.
func TestExampleRun(t *testing.T) {
	testutil.RequireRoot(t, "runs a real container")
	dir := t.TempDir()
	bin := filepath.Join(dir, "run")
	// berth needs libseccomp (-tags seccomp): containers get a seccomp profile.
	build := exec.Command(goBinary(), "build", "-tags", "seccomp", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	bundle := filepath.Join(dir, "bundle")
	if err := busybox.MakeBundle(bundle, spec.WithArgs("sh", "-c", "echo hello from $(hostname); exit 4")); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "state")
	cmd := exec.Command(bin, "-root", root, bundle, "ex1")
	out, _ := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Fatalf("exit code %d, want 4", code)
	}
	if got := strings.TrimSpace(string(out)); got != "hello from berth" {
		t.Fatalf("output %q", got)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("state left behind: %v", entries)
	}
}

// goBinary is the go command running this test (the Makefile passes it).
func goBinary() string {
	if g := os.Getenv("BERTH_GO"); g != "" {
		return g
	}
	return "go"
}
