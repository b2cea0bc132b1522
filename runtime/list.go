package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"sort"
	"strconv"
	"syscall"

	"github.com/sirupsen/logrus"
)

// List returns the state of every container under the root, sorted by id,
// with the creates that have not finished (or died) as "creating".
// A missing root holds no containers. Entries that cannot be read (for
// example a container being deleted meanwhile) are skipped with a warning.
func (r *Runtime) List() ([]State, error) {
	entries, err := os.ReadDir(r.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.root, err)
	}
	var out []State
	for _, e := range entries {
		if !e.IsDir() || e.Name() == creatingDir || e.Name() == legacyProgramDir {
			continue
		}
		c, err := r.Load(e.Name())
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				logrus.WithError(err).Warn("list: skipping container")
			}
			continue
		}
		st, err := c.State()
		if err != nil {
			logrus.WithError(err).Warn("list: skipping container")
			continue
		}
		st.Owner = ownerOf(e)
		out = append(out, st)
	}
	out = append(out, r.creatingStates()...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func ownerOf(e fs.DirEntry) string {
	info, err := e.Info()
	if err != nil {
		return ""
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	uid := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "#" + uid
}
