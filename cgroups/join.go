package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	occgroups "github.com/opencontainers/cgroups"
)

// ErrNoSuchCgroup is returned by JoinProcess for a cgroup that exists in
// no hierarchy of the host.
var ErrNoSuchCgroup = errors.New("no such cgroup")

// JoinProcess moves the process pid into the existing cgroup path (as
// "/a/b", relative to the hierarchies' roots): on cgroup v2 the unified
// hierarchy; on v1 (and hybrid) every hierarchy in which the cgroup
// exists, as containerd's runc shim joins a ShimCgroup. It creates nothing.
func JoinProcess(path string, pid int) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("cgroup %q: path must be absolute", path)
	}
	var dirs []string
	if HostMode() == V2 {
		dirs = []string{filepath.Join("/sys/fs/cgroup", path)}
	} else {
		mounts, err := occgroups.GetCgroupMounts(false)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", path, err)
		}
		for _, m := range mounts {
			dirs = append(dirs, filepath.Join(m.Mountpoint, path))
		}
		if HostMode() == Hybrid {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup/unified", path))
		}
	}
	joined := 0
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("cgroup %s: join %s: %w", path, dir, err)
		}
		joined++
	}
	if joined == 0 {
		return fmt.Errorf("cgroup %s: %w (create it first)", path, ErrNoSuchCgroup)
	}
	return nil
}
