package shim

import (
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-oci/berth/internal/testutil"
)

// TestStdioOwner: with io_uid and io_gid, the container's ends of its
// stdio (FIFO inodes, pipes) belong to them; a file:// log stays root's
// and is reached through a pipe; the default (root) changes nothing.
func TestStdioOwner(t *testing.T) {
	testutil.RequireRoot(t, "gives files to another user")
	owner := ioOwner{uid: 100000, gid: 100001}
	fifos := func(t *testing.T) (string, string, string) {
		dir := t.TempDir()
		var paths []string
		for _, n := range []string{"stdin", "stdout", "stderr"} {
			p := filepath.Join(dir, n)
			if err := unix.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		return paths[0], paths[1], paths[2]
	}
	logURI := func(t *testing.T) string {
		return (&url.URL{Scheme: "file", Path: filepath.Join(t.TempDir(), "log")}).String()
	}
	tests := []struct {
		name            string
		owner           ioOwner
		stdio           func(t *testing.T) (string, string, string)
		wantUID         uint32
		wantStdoutIsLog bool // the container writes to the log file itself
	}{
		{"fifos, io owner", owner, fifos, owner.uid, false},
		{"fifos, root", ioOwner{}, fifos, 0, false},
		{"file log, io owner", owner, func(t *testing.T) (string, string, string) { u := logURI(t); return "", u, u }, owner.uid, false},
		{"file log, root", ioOwner{}, func(t *testing.T) (string, string, string) { u := logURI(t); return "", u, u }, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, out, errPath := tc.stdio(t)
			s, err := newStdio(stdioPaths{stdin: in, stdout: out, stderr: errPath}, stdioConfig{id: "id", namespace: "ns", owner: tc.owner})
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			defer s.closeContainerSide()
			for name, f := range map[string]*os.File{"stdin": s.io.Stdin, "stdout": s.io.Stdout, "stderr": s.io.Stderr} {
				if f == nil {
					continue
				}
				var st unix.Stat_t
				if err := unix.Fstat(int(f.Fd()), &st); err != nil {
					t.Fatal(err)
				}
				if st.Uid != tc.wantUID || (tc.wantUID != 0 && st.Gid != tc.owner.gid) {
					t.Errorf("%s owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, tc.wantUID, tc.owner.gid)
				}
				isFile := st.Mode&syscall.S_IFMT == syscall.S_IFREG
				if name != "stdin" && isFile != tc.wantStdoutIsLog {
					t.Errorf("%s is the log file: %v, want %v", name, isFile, tc.wantStdoutIsLog)
				}
			}
		})
	}
}

// TestStdioOwnerLogCopy: a file:// log behind a pipe gets all that the
// container wrote once it exits.
func TestStdioOwnerLogCopy(t *testing.T) {
	testutil.RequireRoot(t, "gives files to another user")
	path := filepath.Join(t.TempDir(), "log")
	uri := (&url.URL{Scheme: "file", Path: path}).String()
	s, err := newStdio(stdioPaths{stdout: uri, stderr: uri}, stdioConfig{id: "id", namespace: "ns", owner: ioOwner{uid: 100000, gid: 100000}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.io.Stdout.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	s.closeContainerSide() // the process's end goes with its exit
	s.exited()
	s.close()
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "hello\n" {
		t.Fatalf("log %q, %v", data, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Uid != 0 {
		t.Fatalf("log file owner %d, %v: it must stay root's", st.Uid, err)
	}
}
