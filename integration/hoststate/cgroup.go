package hoststate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// RemoveCgroup removes the empty cgroup rel from every cgroup v1 and v2
// mount of this host: below each mount's root, and below this process's
// own cgroup in it (where a relative cgroups path puts a container; on
// this VM the memory hierarchy places the test process in a cgroup of its
// own). containerd puts containers in /<namespace>/<id>, and the runtime
// creates /<namespace> in every hierarchy but removes only the container's
// own cgroup. A cgroup still holding processes or children is left alone,
// and reported.
func RemoveCgroup(rel string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	bases := []string{"/"}
	if own, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(own), "\n") {
			if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[2] != "/" {
				bases = append(bases, parts[2])
			}
		}
	}
	var errs []error
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
		for i, base := range bases {
			dir := filepath.Join(fields[4], base, rel)
			if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && i == 0 {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
