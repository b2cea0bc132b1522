package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPodFilesFor finds the CRI's directories from a sandbox bundle laid
// out as containerd 2.2's sandbox controller makes it.
func TestPodFilesFor(t *testing.T) {
	tmp := t.TempDir()
	const plugin = "io.containerd.sandbox.controller.v1.shim"
	bundle := filepath.Join(tmp, "state", plugin, "k8s.io", "pod1")
	work := filepath.Join(tmp, "root", plugin, "k8s.io", "pod1")
	for _, d := range []string{bundle, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(work, filepath.Join(bundle, "work")); err != nil {
		t.Fatal(err)
	}
	f, err := podFilesFor(bundle, "pod1")
	if err != nil {
		t.Fatal(err)
	}
	want := podFiles{
		dir:      filepath.Join(tmp, "root", "io.containerd.grpc.v1.cri", "sandboxes", "pod1"),
		volatile: filepath.Join(tmp, "state", "io.containerd.grpc.v1.cri", "sandboxes", "pod1"),
	}
	if f != want {
		t.Fatalf("got %+v, want %+v", f, want)
	}
	if _, err := podFilesFor(t.TempDir(), "pod1"); err == nil {
		t.Fatal("a bundle without a work link: no error")
	}
}
