package shim

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStateRoot(t *testing.T) {
	dir := t.TempDir()
	withRoot := filepath.Join(dir, "custom")
	if err := os.MkdirAll(withRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeOptions(withRoot, taskOptions{Root: "/run/elsewhere"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ bundle, want string }{
		{"/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc", "/run/containerd/berth/k8s.io"},
		{"/tmp/x/state/io.containerd.runtime.v2.task/ns1/c1/", "/tmp/x/state/berth/ns1"},
		{"/tmp/x/state/io.containerd.runtime.v2.task/other/c1", "/run/containerd/berth/ns1"},
		{"/some/bundle", "/run/containerd/berth/ns1"},
		{withRoot, "/run/elsewhere/ns1"},
	}
	for _, tc := range tests {
		ns := "ns1"
		if filepath.Base(filepath.Dir(filepath.Clean(tc.bundle))) == "k8s.io" {
			ns = "k8s.io"
		}
		if got := stateRoot(tc.bundle, ns); got != tc.want {
			t.Errorf("stateRoot(%s, %s) = %s, want %s", tc.bundle, ns, got, tc.want)
		}
	}
}
