package hoststate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// RemoveCgroup removes the empty cgroup rel (relative to each cgroup
// mount) from every cgroup v1 and v2 mount of this host. containerd puts
// containers in /<namespace>/<id>, and the runtime creates /<namespace> in
// every hierarchy but removes only the container's own cgroup. A cgroup
// still holding processes or children is left alone, and reported.
func RemoveCgroup(rel string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
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
		dir := filepath.Join(fields[4], rel)
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
