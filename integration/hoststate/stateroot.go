package hoststate

import "os"

// ProgramCacheDir is the directory of compiled seccomp programs in a berth
// state root: one file per seccomp profile, kept across containers, not
// part of any container's state.
const ProgramCacheDir = "@seccomp"

// StateEntries lists the names in a berth state root other than
// ProgramCacheDir: what containers and creates left there.
func StateEntries(root string) []string {
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		if e.Name() != ProgramCacheDir {
			names = append(names, e.Name())
		}
	}
	return names
}
