package runtime

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProgramKey(t *testing.T) {
	base := programKey([]byte("host"), []byte("rules"))
	for _, tc := range []struct {
		name  string
		parts [][]byte
		same  bool
	}{
		{"same parts", [][]byte{[]byte("host"), []byte("rules")}, true},
		{"other rules", [][]byte{[]byte("host"), []byte("rules2")}, false},
		{"other host", [][]byte{[]byte("host2"), []byte("rules")}, false},
		{"same bytes, split elsewhere", [][]byte{[]byte("hostr"), []byte("ules")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := programKey(tc.parts...) == base; got != tc.same {
				t.Fatalf("key equal to the base: %v, want %v", got, tc.same)
			}
		})
	}
}

func TestProgramCache(t *testing.T) {
	dir := t.TempDir()
	key := programKey([]byte("k"))
	c := newProgramCache(dir)
	if _, ok := c.get(key); ok {
		t.Fatal("an empty cache has the key")
	}
	if err := c.put(key, []byte(`{"filter":"AAAAAAAAAAA="}`)); err != nil {
		t.Fatal(err)
	}
	// Another process (a new cache on the same directory) finds the file.
	fresh := newProgramCache(dir)
	got, ok := fresh.get(key)
	if !ok || !bytes.Equal(got, []byte(`{"filter":"AAAAAAAAAAA="}`)) {
		t.Fatalf("from the file: %q, %v", got, ok)
	}
	// One plain file in the root, named so that runc (no directory) and
	// crun (a leading dot) pass over it when they list a shared root.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != programFilePrefix+key+".json" || !entries[0].Type().IsRegular() {
		t.Fatalf("root holds %v, want only the file %s%s.json", entries, programFilePrefix, key)
	}
}

func TestProgramCacheFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	key := programKey([]byte("k"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, programFilePrefix+key+".json"), make([]byte, maxProgramFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := newProgramCache(dir).get(key); ok {
		t.Fatal("a file over the limit was read")
	}
}

func TestProgramCachePutFailsCleanly(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes into a read-only directory: use one that cannot be
		// made instead (its parent is a file).
		parent := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(parent, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		c := newProgramCache(filepath.Join(parent, "root"))
		if err := c.put("k", []byte("x")); err == nil {
			t.Fatal("put succeeded under a file")
		}
		// What could not be written is still served from memory.
		if got, ok := c.get("k"); !ok || string(got) != "x" {
			t.Fatalf("memory: %q, %v", got, ok)
		}
		return
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(root, 0o700)
	c := newProgramCache(root)
	if err := c.put("k", []byte("x")); err == nil {
		t.Fatal("put succeeded in a read-only root")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("left in the root: %v", entries)
	}
}

func TestProgramCacheMemoryBound(t *testing.T) {
	// No directory can be made under a file: the cache lives in memory only.
	parent := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(parent, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newProgramCache(filepath.Join(parent, "root"))
	for i := range maxProgramsInMemory + 1 {
		_ = c.put(programKey([]byte{byte(i)}), []byte{byte(i)})
	}
	if n := len(c.mem); n > maxProgramsInMemory {
		t.Fatalf("%d programs in memory, bound %d", n, maxProgramsInMemory)
	}
	if got, ok := c.get(programKey([]byte{maxProgramsInMemory})); !ok || got[0] != maxProgramsInMemory {
		t.Fatalf("the newest program is gone: %v, %v", got, ok)
	}
}

// TestProgramCacheFileBound: a root keeps at most maxProgramFiles program
// files; storing one more removes the least recently used (a file read
// back counts as used), and nothing else in the root.
func TestProgramCacheFileBound(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "a-container")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	c := newProgramCache(dir)
	old := time.Now().Add(-time.Hour)
	for i := 0; i < maxProgramFiles; i++ {
		key := programKey([]byte{byte(i)})
		if err := c.put(key, []byte("p")); err != nil {
			t.Fatal(err)
		}
		// Stored and used an hour ago, the oldest first.
		at := old.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(c.path(key), at, at); err != nil {
			t.Fatal(err)
		}
	}
	first, second := programKey([]byte{0}), programKey([]byte{1})
	// The first is read back by another process (not from memory): used.
	if _, ok := newProgramCache(dir).get(first); !ok {
		t.Fatal("first program not read back")
	}
	if err := c.put(programKey([]byte("new")), []byte("p")); err != nil {
		t.Fatal(err)
	}
	n := 0
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), programFilePrefix) {
			n++
		}
	}
	if n != maxProgramFiles {
		t.Errorf("%d program files, want %d", n, maxProgramFiles)
	}
	if st, err := os.Stat(c.path(first)); err != nil {
		t.Errorf("the program used last was removed: %v", err)
	} else if !st.ModTime().Equal(old) {
		t.Errorf("reading the program changed its modification time to %v", st.ModTime())
	}
	if _, err := os.Stat(c.path(second)); err == nil {
		t.Errorf("the least recently used program was kept")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a container's directory was touched: %v", err)
	}
}
