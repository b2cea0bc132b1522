package runtime

import (
	"path/filepath"
	"sync"
)

// owners are the exits of the container inits this process created, by
// state directory: every Container for one of them, however loaded (Load,
// another Runtime on the same root), shares its owner, so each learns the
// real exit status and any of them reaps the init on delete. One owner per
// process.
var owners struct {
	mu sync.Mutex
	m  map[string]*ownedExit
}

// own records o as the owner of the container in dir.
func own(dir string, o *ownedExit) {
	owners.mu.Lock()
	defer owners.mu.Unlock()
	if owners.m == nil {
		owners.m = map[string]*ownedExit{}
	}
	owners.m[filepath.Clean(dir)] = o
}

// initOwnerOf returns the owner of the container in dir, if this process
// created it.
func initOwnerOf(dir string) (*ownedExit, bool) {
	owners.mu.Lock()
	defer owners.mu.Unlock()
	o, ok := owners.m[filepath.Clean(dir)]
	return o, ok
}

// disown forgets o as the owner of the container in dir (it was deleted);
// a later container of the same id has an owner of its own.
func disown(dir string, o *ownedExit) {
	owners.mu.Lock()
	defer owners.mu.Unlock()
	if owners.m[filepath.Clean(dir)] == o {
		delete(owners.m, filepath.Clean(dir))
	}
}
