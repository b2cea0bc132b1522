//go:build libcontainer_seccomp_program

package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
)

// countCompiles counts libcontainer's compiles until the test ends.
func countCompiles(t *testing.T) *int {
	n := new(int)
	orig := compileSeccomp
	compileSeccomp = func(s *configs.Seccomp) (*configs.SeccompProgram, error) {
		*n++
		return orig(s)
	}
	t.Cleanup(func() { compileSeccomp = orig })
	return n
}

func profile(deny ...string) *configs.Seccomp {
	s := &configs.Seccomp{DefaultAction: configs.Allow}
	for _, name := range deny {
		s.Syscalls = append(s.Syscalls, &configs.Syscall{Name: name, Action: configs.Errno})
	}
	return s
}

func programFiles(t *testing.T, root string) []string {
	t.Helper()
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), programFilePrefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestAttachSeccompProgram(t *testing.T) {
	compiles := countCompiles(t)
	root := t.TempDir()
	r, err := New(root)
	if err != nil {
		t.Fatal(err)
	}

	s := profile("getcwd")
	store := r.attachSeccompProgram(s)
	if s.Program == nil || !wholeProgram(s.Program) || *compiles != 1 {
		t.Fatalf("first attach: program %+v after %d compiles", s.Program, *compiles)
	}
	if files := programFiles(t, root); len(files) != 0 {
		t.Fatalf("cached before store: %v", files)
	}
	store()
	if files := programFiles(t, root); len(files) != 1 {
		t.Fatalf("cache files after store: %v", files)
	}
	want := s.Program

	// Another process on the same root: from the file, no compile.
	r2, _ := New(root)
	s2 := profile("getcwd")
	r2.attachSeccompProgram(s2)()
	if *compiles != 1 || s2.Program == nil || string(s2.Program.Filter) != string(want.Filter) || s2.Program.Flags != want.Flags {
		t.Fatalf("second runtime: %d compiles, program %+v", *compiles, s2.Program)
	}

	// A stale program in the config is not part of the key.
	s3 := profile("getcwd")
	s3.Program = &configs.SeccompProgram{Filter: []byte("stale!!!")}
	r2.attachSeccompProgram(s3)
	if *compiles != 1 || string(s3.Program.Filter) != string(want.Filter) {
		t.Fatalf("a config with a program: %d compiles, program %+v", *compiles, s3.Program)
	}

	// Another profile is another program.
	s4 := profile("getcwd", "mkdir")
	r2.attachSeccompProgram(s4)()
	if *compiles != 2 || string(s4.Program.Filter) == string(want.Filter) {
		t.Fatalf("another profile: %d compiles", *compiles)
	}
	if files := programFiles(t, root); len(files) != 2 {
		t.Fatalf("cache files: %v", files)
	}
}

func TestAttachSeccompProgramCorruptFile(t *testing.T) {
	compiles := countCompiles(t)
	root := t.TempDir()
	r, _ := New(root)
	r.attachSeccompProgram(profile("getcwd"))()
	files := programFiles(t, root)
	if len(files) != 1 {
		t.Fatalf("cache files: %v", files)
	}
	for _, bad := range []string{"not json", `{"filter":"AAAA"}`, `{"filter":""}`} {
		path := filepath.Join(root, files[0])
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		before := *compiles
		r2, _ := New(root)
		s := profile("getcwd")
		r2.attachSeccompProgram(s)()
		if *compiles != before+1 || s.Program == nil || !wholeProgram(s.Program) {
			t.Fatalf("cache file %q: %d compiles, program %+v", bad, *compiles-before, s.Program)
		}
		if data, _ := os.ReadFile(path); string(data) == bad {
			t.Fatalf("cache file %q was not replaced", bad)
		}
	}
}

func TestAttachSeccompProgramUncompilable(t *testing.T) {
	root := t.TempDir()
	r, _ := New(root)
	// runc refuses SCMP_ACT_NOTIFY on write in the init; the error stays
	// there, where it is reported as without the cache.
	s := profile()
	s.Syscalls = append(s.Syscalls, &configs.Syscall{Name: "write", Action: configs.Notify})
	r.attachSeccompProgram(s)()
	if s.Program != nil {
		t.Fatalf("program for an uncompilable profile: %+v", s.Program)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left in the root: %v", entries)
	}
	if r.attachSeccompProgram(nil) == nil {
		t.Fatal("nil store for no profile")
	}
}
