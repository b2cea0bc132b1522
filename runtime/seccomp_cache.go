package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// programFilePrefix names, in a runtime's root, the files of compiled
// seccomp programs: one file per distinct profile (not per container),
// <prefix><key>.json. They are plain files beside the containers'
// directories, so that another runtime sharing the root (Docker gives its
// runtimes one) skips them: runc's list passes over what is not a
// directory, and crun's over names that start with a dot. '.' cannot start
// a berth id, so berth never takes one for a container. See
// seccomp_program.go.
const programFilePrefix = ".berth-seccomp-"

// legacyProgramDir is where berth 0.2 kept the programs; list skips it in a
// root written by that version.
const legacyProgramDir = "@seccomp"

// maxProgramFile bounds what is read back from the cache: a program of the
// kernel's 4096 instructions takes 44 KB in its file.
const maxProgramFile = 1 << 20

// maxProgramsInMemory bounds the programs a long-lived process keeps in
// memory: one per distinct profile, and a profile is usually shared, but a
// notify profile names each container's listener.
const maxProgramsInMemory = 64

// maxProgramFiles bounds the program files in a root. A key includes the
// identity of the binary that compiled it, so each upgrade of berth, or of
// a program using the library, starts new files; the least recently used
// beyond the bound are removed when a program is stored. A removed program
// is compiled again when next needed.
const maxProgramFiles = 32

// programCache keeps compiled seccomp programs by key, in memory (for a
// long-lived process such as the shim daemon) and in files in dir named
// programFilePrefix<key>.json (for the CLI, whose every command is a new
// process). It is safe for concurrent use. What it holds is opaque to it.
type programCache struct {
	dir string
	mu  sync.Mutex
	mem map[string][]byte
}

func newProgramCache(dir string) *programCache {
	return &programCache{dir: dir, mem: map[string][]byte{}}
}

// programKey hashes what a compiled program depends on into a key.
func programKey(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		// Each part is length-prefixed, so that no two lists of parts
		// hash the same bytes.
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *programCache) path(key string) string {
	return filepath.Join(c.dir, programFilePrefix+key+".json")
}

// get returns the program stored under key, from memory or from its file.
// A file that cannot be read counts as missing.
func (c *programCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	data, ok := c.mem[key]
	c.mu.Unlock()
	if ok {
		return data, true
	}
	f, err := os.Open(c.path(key))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, maxProgramFile+1))
	if err != nil || len(data) > maxProgramFile {
		return nil, false
	}
	c.remember(key, data)
	// Used: it is among the last to go (see prune). The access time says
	// so; the modification time stays that of the write.
	if info, err := f.Stat(); err == nil {
		_ = os.Chtimes(c.path(key), time.Now(), info.ModTime())
	}
	return data, true
}

// put stores data under key, in memory and, atomically (a temporary file
// renamed into place), in its file. Failing to write the file is returned
// for the caller to log, and leaves no partial file behind: the cache is an
// optimization.
func (c *programCache) put(key string, data []byte) error {
	c.remember(key, data)
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("seccomp program cache: %w", err)
	}
	tmp, err := os.CreateTemp(c.dir, programFilePrefix+key+".*.tmp")
	if err != nil {
		return fmt.Errorf("seccomp program cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("seccomp program cache: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), c.path(key)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("seccomp program cache: %w", err)
	}
	c.prune(maxProgramFiles)
	return nil
}

// prune removes the least recently used program files beyond max, by
// access time (set by get, and by the write).
func (c *programCache) prune(max int) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type file struct {
		name string
		used time.Time
	}
	var files []file
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), programFilePrefix) || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if info, err := e.Info(); err == nil {
			used := info.ModTime()
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				used = time.Unix(st.Atim.Unix())
			}
			files = append(files, file{e.Name(), used})
		}
	}
	if len(files) <= max {
		return
	}
	sort.Slice(files, func(i, j int) bool { return files[i].used.Before(files[j].used) })
	for _, f := range files[:len(files)-max] {
		_ = os.Remove(filepath.Join(c.dir, f.name))
	}
}

// remember keeps data under key in memory, forgetting every other program
// when the memory holds maxProgramsInMemory.
func (c *programCache) remember(key string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mem[key]; !ok && len(c.mem) >= maxProgramsInMemory {
		clear(c.mem)
	}
	c.mem[key] = data
}
