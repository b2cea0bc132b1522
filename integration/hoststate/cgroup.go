package hoststate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// cgroupCandidates returns where cgroup rel can be on this host: below
// each cgroup v1 and v2 mount's root, and below this process's own cgroup
// in it (where a relative cgroups path puts a container; on this VM the
// memory hierarchy places the test process in a cgroup of its own). The
// first of each mount's candidates is the one below its root.
func cgroupCandidates(rel string) ([][]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	bases := []string{"/"}
	if own, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(own), "\n") {
			if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[2] != "/" {
				bases = append(bases, parts[2])
			}
		}
	}
	var out [][]string
	for _, line := range strings.Split(string(data), "\n") {
		// mountinfo: id parent major:minor root mountpoint options ... - fstype source
		before, after, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		fields, tail := strings.Fields(before), strings.Fields(after)
		if len(fields) < 5 || len(tail) < 1 || (tail[0] != "cgroup" && tail[0] != "cgroup2") {
			continue
		}
		var dirs []string
		for _, base := range bases {
			dirs = append(dirs, filepath.Join(fields[4], base, rel))
		}
		out = append(out, dirs)
	}
	return out, nil
}

// CgroupDirs returns the directories of cgroup rel that exist on this
// host, in any hierarchy (see cgroupCandidates).
func CgroupDirs(rel string) []string {
	mounts, _ := cgroupCandidates(rel)
	var found []string
	for _, dirs := range mounts {
		for _, dir := range dirs {
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				found = append(found, dir)
			}
		}
	}
	return found
}

// RemoveCgroup removes the empty cgroup rel from every hierarchy (see
// cgroupCandidates). containerd puts containers in /<namespace>/<id>, and
// the runtime creates /<namespace> in every hierarchy but removes only the
// container's own cgroup. A cgroup still holding processes or children is
// left alone, and reported.
func RemoveCgroup(rel string) error {
	mounts, err := cgroupCandidates(rel)
	if err != nil {
		return err
	}
	var errs []error
	for _, dirs := range mounts {
		for i, dir := range dirs {
			if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && i == 0 {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// RemoveCgroupTree removes cgroup rel and every cgroup below it, deepest
// first, from every hierarchy (see cgroupCandidates): the kubelet makes
// /kubepods and a tree of QoS and pod cgroups below it, and removes none of
// them when it stops. A cgroup still holding processes is left alone, and
// reported.
func RemoveCgroupTree(rel string) error {
	mounts, err := cgroupCandidates(rel)
	if err != nil {
		return err
	}
	var errs []error
	for _, dirs := range mounts {
		var tree []string
		_ = filepath.WalkDir(dirs[0], func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				tree = append(tree, path)
			}
			return nil
		})
		for i := len(tree) - 1; i >= 0; i-- {
			if err := os.Remove(tree[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
