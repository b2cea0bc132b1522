package options

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateRoot(t *testing.T) {
	dir := t.TempDir()
	withRoot := filepath.Join(dir, "custom")
	if err := os.MkdirAll(withRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(withRoot, Options{Root: "/run/elsewhere"}); err != nil {
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
		if got := StateRoot(tc.bundle, ns); got != tc.want {
			t.Errorf("StateRoot(%s, %s) = %s, want %s", tc.bundle, ns, got, tc.want)
		}
	}
}

// TestStartOptions: "start" finds runc's options in containerd 2.3+'s
// BootstrapParams and in the older form (an Any on stdin); anything else
// is the defaults.
// TestCheckBinaryName: BinaryName is refused, naming the option; berth
// runs no runtime binary.
func TestCheckBinaryName(t *testing.T) {
	err := Options{BinaryName: "/usr/bin/runc"}.Check()
	if err == nil || !strings.Contains(err.Error(), "BinaryName") {
		t.Fatalf("%v; want a refusal naming BinaryName", err)
	}
	if err := (Options{ShimCgroup: "/x", CriuWorkPath: "/w"}).Check(); err != nil {
		t.Fatal(err)
	}
}
