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
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	berthcgroups "github.com/berth-oci/berth/cgroups"
)

// A create records what it is about to make on the host before it makes
// anything, so that a create that dies (SIGKILL, a crash) leaves a record
// from which Delete, List and a new Create of the id find and remove what
// it made. The record lives in two places in turn:
//   - while the create runs, <root>/@creating/<id>.json, locked by its
//     creator: a record whose lock can be taken is a create that died.
//     '@' is not allowed in ids, so the directory is never taken for a
//     container;
//   - once the create has succeeded, <state dir>/berth-create.json: it goes
//     when the container does, and lets Delete with force find the cgroups
//     of a container whose state.json is lost or corrupt.
const (
	creatingDir      = "@creating"
	keptRecordName   = "berth-create.json"
	createRecordMode = 0o600
)

// createRecord is the record of one create. Its JSON is what is on disk;
// the rest is the creator's handle on it.
type createRecord struct {
	ID string `json:"id"`
	// Cgroup is libcontainer's cgroup configuration of the container, from
	// which the cgroup paths (and their processes) are found again.
	Cgroup *cgroups.Cgroup `json:"cgroup"`
	// Started is when the create began.
	Started time.Time `json:"started"`

	path string   // where it is while the create runs
	f    *os.File // its creator's open, locked file
	kept bool     // moved into the state directory
}

// errCorruptRecord is a record that was read and could not be decoded.
var errCorruptRecord = errors.New("corrupt create record")

// readCreateRecord reads a record from path: the one place it is decoded.
// A record read and not decoded is errCorruptRecord.
func readCreateRecord(path string) (createRecord, error) {
	var rec createRecord
	data, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w: %w", path, errCorruptRecord, err)
	}
	return rec, nil
}

func (r *Runtime) creatingPath(id string) string {
	return filepath.Join(r.root, creatingDir, id+".json")
}

// recordCreate writes and locks the record of a create of id, before
// anything of the container exists. It fails with ErrExists while another
// create of id runs, and clears the remains of one that died.
func (r *Runtime) recordCreate(id string, cg *cgroups.Cgroup) (*createRecord, error) {
	if _, err := r.clearDeadCreate(id); err != nil {
		return nil, err
	}
	path := r.creatingPath(id)
	var f *os.File
	var err error
	// The directory goes with the last record; another create may remove
	// it between the two steps, so try again then.
	for range 5 {
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("record create of %s: %w", id, err)
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, createRecordMode)
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
	rec := &createRecord{ID: id, Cgroup: cg, Started: time.Now(), path: path, f: f}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		rec.release()
		return nil, errorf(ErrExists, "container %q is being created", id)
	}
	// No fsync: the record guards against a killed process, whose writes
	// the page cache keeps; a machine that crashes loses the cgroups too.
	data, err := json.Marshal(rec)
	if err == nil {
		_, err = f.Write(data)
	}
	if err != nil {
		rec.release()
		return nil, fmt.Errorf("record create of %s in %s: %w", id, path, err)
	}
	return rec, nil
}

// keep moves the record into the container's state directory: the create
// succeeded.
func (rec *createRecord) keep(stateDir string) {
	if err := os.Rename(rec.path, filepath.Join(stateDir, keptRecordName)); err != nil {
		_ = os.Remove(rec.path)
	}
	rec.f.Close()
	_ = os.Remove(filepath.Dir(rec.path)) // only if it was the last record
	rec.kept = true
}

// release removes the record, unless kept: the create has finished, and
// what it made is the container's (or was cleaned up).
func (rec *createRecord) release() {
	if rec.kept {
		return
	}
	_ = os.Remove(rec.path)
	rec.f.Close()
	_ = os.Remove(filepath.Dir(rec.path)) // only if it was the last record
}

// clearDeadCreate removes what a create of id that died made: the
// processes and directories of its cgroups, and its state directory when
// the container never got a state. Then it removes the record and reports
// true. A missing record is nothing to do; a live create (its record
// locked) is left alone, and the error is ErrExists.
func (r *Runtime) clearDeadCreate(id string) (bool, error) {
	path := r.creatingPath(id)
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
		if rec, err := readCreateRecord(path); err == nil && rec.Cgroup != nil {
			if err := berthcgroups.Destroy(rec.Cgroup); err != nil {
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
	entries, err := os.ReadDir(filepath.Join(r.root, creatingDir))
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
		if rec, err := readCreateRecord(filepath.Join(r.root, creatingDir, e.Name())); err == nil {
			st.Created = rec.Started
		}
		out = append(out, st)
	}
	return out
}

// clearUnreadable removes a container whose state cannot be read (a
// corrupt or truncated state.json): the processes and cgroups its kept
// record names, then its state directory.
func (r *Runtime) clearUnreadable(id string) error {
	dir := r.stateDir(id)
	rec, err := readCreateRecord(filepath.Join(dir, keptRecordName))
	if err != nil && !errors.Is(err, errCorruptRecord) {
		return fmt.Errorf("its state cannot be read and it has no record of its cgroups: %w", err)
	}
	if err != nil || rec.Cgroup == nil {
		return fmt.Errorf("its state cannot be read and its record of its cgroups is corrupt too")
	}
	if err := berthcgroups.Destroy(rec.Cgroup); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
