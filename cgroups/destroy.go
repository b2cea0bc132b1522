package cgroups

import (
	occgroups "github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// Destroy kills every process in the cgroups cg describes (frozen first,
// so that none forks away) and removes them, as libcontainer's destroy
// does. Cgroups already gone are no error.
func Destroy(cg *occgroups.Cgroup) error {
	m, err := manager.New(cg)
	if err != nil {
		return err
	}
	if !m.Exists() {
		return m.Destroy() // other hierarchies of v1 may still be there
	}
	_ = m.Freeze(occgroups.Frozen)
	pids, _ := m.GetAllPids()
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	_ = m.Freeze(occgroups.Thawed)
	return m.Destroy()
}
