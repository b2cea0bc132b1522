package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// intentDir holds, under a runtime's root, one file per container being
// created: what the create is about to make on the host, written before
// anything is made. A create that dies (SIGKILL, a crash) leaves its file
// behind, so Delete, List and a new Create of the id can find and remove
// what it made. '@' is not allowed in ids, so the directory is never
// taken for a container.
const intentDir = "@creating"

// createIntent is what a create records before it makes anything.
type createIntent struct {
	ID string `json:"id"`
	// Cgroup is libcontainer's cgroup configuration of the container, from
	// which the cgroup paths (and their processes) are found again.
	Cgroup *cgroups.Cgroup `json:"cgroup"`
	// Started is when the create began.
	Started time.Time `json:"started"`
}

// intent is the record of a create in progress, locked by its creator for
// as long as the create runs: a record whose lock can be taken is a create
// that died.
type intent struct {
	path string
	f    *os.File
	kept bool
}

func (r *Runtime) intentPath(id string) string {
	return filepath.Join(r.root, intentDir, id+".json")
}

// recordIntent writes and locks the record of a create of id, before
// anything of the container exists. It fails with ErrExists while another
// create of id runs, and clears the remains of one that died.
func (r *Runtime) recordIntent(id string, cg *cgroups.Cgroup) (*intent, error) {
	if _, err := r.clearDeadCreate(id); err != nil {
		return nil, err
	}
	path := r.intentPath(id)
	var f *os.File
	var err error
	// The directory goes with the last record; another create may remove
	// it between the two steps, so try again then.
	for range 5 {
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("record create of %s: %w", id, err)
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, fs.ErrExist) {
		return nil, errorf(ErrExists, "container %q is being created", id)
	}
	if err != nil {
		return nil, fmt.Errorf("record create of %s: %w", id, err)
	}
	in := &intent{path: path, f: f}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		in.release()
		return nil, errorf(ErrExists, "container %q is being created", id)
	}
	// No fsync: the record guards against a killed process, whose writes
	// the page cache keeps; a machine that crashes loses the cgroups too.
	data, err := json.Marshal(createIntent{ID: id, Cgroup: cg, Started: time.Now()})
	if err == nil {
		_, err = f.Write(data)
	}
	if err != nil {
		in.release()
		return nil, fmt.Errorf("record create of %s in %s: %w", id, path, err)
	}
	return in, nil
}

// keepRecord is the record's name once the create has succeeded: moved
// into the container's state directory, it goes when the container does,
// and lets Delete with force find the cgroups of a container whose
// state.json is lost or corrupt.
const keepRecord = "berth-create.json"

// keep moves the record into the container's state directory: the create
// succeeded.
func (in *intent) keep(stateDir string) {
	if err := os.Rename(in.path, filepath.Join(stateDir, keepRecord)); err != nil {
		_ = os.Remove(in.path)
	}
	in.f.Close()
	_ = os.Remove(filepath.Dir(in.path)) // only if it was the last record
	in.kept = true
}

// release removes the record, unless kept: the create has finished, and
// what it made is the container's (or was cleaned up).
func (in *intent) release() {
	if in.kept {
		return
	}
	_ = os.Remove(in.path)
	in.f.Close()
	_ = os.Remove(filepath.Dir(in.path)) // only if it was the last record
}

// clearDeadCreate removes what a create of id that died made: the
// processes and directories of its cgroups, and its state directory when
// the container never got a state. Then it removes the record and reports
// true. A missing record is nothing to do; a live create (its record
// locked) is left alone, and the error is ErrExists.
func (r *Runtime) clearDeadCreate(id string) (bool, error) {
	path := r.intentPath(id)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false, errorf(ErrExists, "container %q is being created", id)
	}
	// A create that got as far as the container's state left a container:
	// deleting it cleans up through that state. Otherwise, what the record
	// says is all there is to find.
	if _, err := r.Load(id); errors.Is(err, ErrNotFound) {
		var rec createIntent
		if data, err := os.ReadFile(path); err == nil && json.Unmarshal(data, &rec) == nil && rec.Cgroup != nil {
			if err := destroyCgroup(rec.Cgroup); err != nil {
				return false, fmt.Errorf("clean up the dead create of %s: %w", id, err)
			}
		}
		if err := os.RemoveAll(r.stateDir(id)); err != nil {
			return false, fmt.Errorf("clean up the dead create of %s: %w", id, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	_ = os.Remove(filepath.Dir(path)) // only if it was the last record
	return true, nil
}

// creatingStates returns, for List, the creates recorded under the root
// whose container has no state yet: in progress, or dead (for delete
// --force to clean up).
func (r *Runtime) creatingStates() []State {
	entries, err := os.ReadDir(filepath.Join(r.root, intentDir))
	if err != nil {
		return nil
	}
	var out []State
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || ValidateID(id) != nil {
			continue
		}
		if _, err := r.Load(id); !errors.Is(err, ErrNotFound) {
			continue
		}
		st := State{OCIVersion: specs.Version, ID: id, Status: Creating}
		if data, err := os.ReadFile(filepath.Join(r.root, intentDir, e.Name())); err == nil {
			var rec createIntent
			if json.Unmarshal(data, &rec) == nil {
				st.Created = rec.Started
			}
		}
		out = append(out, st)
	}
	return out
}

// destroyCgroup kills every process in a container's cgroups (frozen
// first, so that none forks away) and removes them, as libcontainer's
// destroy does.
func destroyCgroup(cg *cgroups.Cgroup) error {
	m, err := manager.New(cg)
	if err != nil {
		return err
	}
	if !m.Exists() {
		return m.Destroy() // other hierarchies of v1 may still be there
	}
	_ = m.Freeze(cgroups.Frozen)
	pids, _ := m.GetAllPids()
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	_ = m.Freeze(cgroups.Thawed)
	return m.Destroy()
}

// clearUnreadable removes a container whose state cannot be read (a
// corrupt or truncated state.json): the processes and cgroups its kept
// record names, then its state directory.
func (r *Runtime) clearUnreadable(id string) error {
	dir := r.stateDir(id)
	data, err := os.ReadFile(filepath.Join(dir, keepRecord))
	if err != nil {
		return fmt.Errorf("its state cannot be read and it has no record of its cgroups: %w", err)
	}
	var rec createIntent
	if err := json.Unmarshal(data, &rec); err != nil || rec.Cgroup == nil {
		return fmt.Errorf("its state cannot be read and its record of its cgroups is corrupt too")
	}
	if err := destroyCgroup(rec.Cgroup); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
