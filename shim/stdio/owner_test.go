package stdio

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
	owner := Owner{UID: 100000, GID: 100001}
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
		owner           Owner
		stdio           func(t *testing.T) (string, string, string)
		wantUID         uint32
		wantStdoutIsLog bool // the container writes to the log file itself
	}{
		{"fifos, io owner", owner, fifos, owner.UID, false},
		{"fifos, root", Owner{}, fifos, 0, false},
		{"file log, io owner", owner, func(t *testing.T) (string, string, string) { u := logURI(t); return "", u, u }, owner.UID, false},
		{"file log, root", Owner{}, func(t *testing.T) (string, string, string) { u := logURI(t); return "", u, u }, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, out, errPath := tc.stdio(t)
			s, err := New(Paths{Stdin: in, Stdout: out, Stderr: errPath}, Config{ID: "id", Namespace: "ns", Owner: tc.owner})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			defer s.CloseContainerSide()
			for name, f := range map[string]*os.File{"stdin": s.IO().Stdin, "stdout": s.IO().Stdout, "stderr": s.IO().Stderr} {
				if f == nil {
					continue
				}
				var st unix.Stat_t
				if err := unix.Fstat(int(f.Fd()), &st); err != nil {
					t.Fatal(err)
				}
				if st.Uid != tc.wantUID || (tc.wantUID != 0 && st.Gid != tc.owner.GID) {
					t.Errorf("%s owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, tc.wantUID, tc.owner.GID)
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
	s, err := New(Paths{Stdout: uri, Stderr: uri}, Config{ID: "id", Namespace: "ns", Owner: Owner{UID: 100000, GID: 100000}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.IO().Stdout.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	s.CloseContainerSide() // the process's end goes with its exit
	s.Exited()
	s.Close()
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "hello\n" {
		t.Fatalf("log %q, %v", data, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Uid != 0 {
		t.Fatalf("log file owner %d, %v: it must stay root's", st.Uid, err)
	}
}
