package shim

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestDaemonGroup(t *testing.T) {
	for _, tc := range []struct {
		group, shimCgroup, want string
	}{
		{"", "", ""},
		{"", "/shims", "shim-cgroup:/shims"},
		{"pod-1", "/shims", "pod-1"},
		{"pod-1", "", "pod-1"},
	} {
		if got := daemonGroup(tc.group, tc.shimCgroup); got != tc.want {
			t.Errorf("daemonGroup(%q, %q) = %q, want %q", tc.group, tc.shimCgroup, got, tc.want)
		}
	}
}

// TestListenerPid: the pid behind a unix socket is its listener's.
func TestListenerPid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	pid, err := listenerPid(path)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("listenerPid = %d, %v; want %d", pid, err, os.Getpid())
	}
	if _, err := listenerPid(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("listenerPid of no socket: no error")
	}
}

func TestReadOOMScoreAdj(t *testing.T) {
	if _, err := readOOMScoreAdj(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := readOOMScoreAdj(-1); err == nil {
		t.Fatal("readOOMScoreAdj(-1): no error")
	}
}
