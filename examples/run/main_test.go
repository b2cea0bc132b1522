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
	// As a program of its own: upstream libcontainer, not the workspace's.
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
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

// TestLibraryBuildMistakes: the two mistakes a new user of the library
// made are refused before anything is made, each with an error that says
// what to do: a build without -tags seccomp running a spec with seccomp
// (the error named no tag, from inside the container's init), and a
// program that never calls runtime.Init (its main ran twice, and the
// create failed with "procReady not received").
func TestLibraryBuildMistakes(t *testing.T) {
	testutil.RequireRoot(t, "runs a real container")
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	if err := busybox.MakeBundle(bundle, spec.WithArgs("true")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pkg string
		tags      []string
		args      func(root string) []string
		says      string
	}{
		{"without -tags seccomp", ".", nil, func(root string) []string { return []string{"-root", root, bundle, "notag"} }, "-tags seccomp"},
		{"without runtime.Init", "./testdata/noinit", []string{"-tags", "seccomp"}, func(root string) []string { return []string{root, bundle} }, "runtime.Init"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "prog")
			args := append(append([]string{"build"}, tc.tags...), "-o", bin, tc.pkg)
			build := exec.Command(goBinary(), args...)
			// As a program importing berth is built: upstream libcontainer,
			// and only the tags given here (not the Makefile's).
			build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			root := filepath.Join(t.TempDir(), "state")
			out, err := exec.Command(bin, tc.args(root)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.says) {
				t.Fatalf("%v: %s; want a failure naming %q", err, out, tc.says)
			}
			if strings.Count(string(out), "main ran") > 1 {
				t.Errorf("main ran twice: %s", out)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("state left behind: %v", entries)
			}
			t.Logf("%s: %s", tc.name, strings.TrimSpace(string(out)))
		})
	}
}
