package hoststate

import (
	"os"
	"strings"
)

// ProgramFilePrefix starts the names of the compiled seccomp programs in a
// berth state root: plain files, one per seccomp profile, kept across
// containers, not part of any container's state.
const ProgramFilePrefix = ".berth-seccomp-"

// StateEntries lists the names in a berth state root other than the
// compiled seccomp programs: what containers and creates left there.
func StateEntries(root string) []string {
	entries, _ := os.ReadDir(root)
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ProgramFilePrefix) {
			names = append(names, e.Name())
		}
	}
	return names
}
