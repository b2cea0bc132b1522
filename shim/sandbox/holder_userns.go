package sandbox

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// holderUserns is the daemon's side of a pod holder's user namespace.
//
// The pod's user namespace is the one that owns its network namespace
// when the CRI made that one in a user namespace of the pod's mappings
// (containerd 2.3 does, and runs a pause container in it): the holder
// joins it. Otherwise (a network namespace of the host's user namespace)
// the holder makes one and the daemon writes its mappings.
//
// A socket pair links the two: the holder says it has made the namespace
// and the daemon answers once it has mapped it; the holder sends the pid
// of its pid namespace's init when it makes one.
type holderUserns struct {
	uidMap, gidMap string
	// owner is the network namespace's user namespace, to join; nil to
	// make one.
	owner *os.File
	// daemonEnd is the daemon's; childEnd is handed to the clone and
	// closed in the daemon once the clone has it.
	daemonEnd, childEnd *os.File
}

// newHolderUserns checks the mappings, finds the user namespace of netns
// (nil: the host's) and makes the socket pair.
func newHolderUserns(uidMap, gidMap []idMapping, netns *os.File) (*holderUserns, error) {
	if len(uidMap) == 0 || len(gidMap) == 0 {
		return nil, fmt.Errorf("pod user namespace: needs uid and gid mappings (got %d and %d)", len(uidMap), len(gidMap))
	}
	u := &holderUserns{uidMap: idMapText(uidMap), gidMap: idMapText(gidMap)}
	if netns != nil {
		owner, err := ownerUserns(netns)
		if err != nil {
			return nil, err
		}
		u.owner = owner
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		u.close()
		return nil, fmt.Errorf("pod user namespace: %w", err)
	}
	u.daemonEnd = os.NewFile(uintptr(fds[0]), "holder-sync")
	u.childEnd = os.NewFile(uintptr(fds[1]), "holder-sync-child")
	return u, nil
}

// ownerUserns is the user namespace that owns ns, or nil when that is
// this process's own.
func ownerUserns(ns *os.File) (*os.File, error) {
	fd, err := unix.IoctlRetInt(int(ns.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		return nil, fmt.Errorf("pod user namespace: the network namespace's owner: %w", err)
	}
	owner := os.NewFile(uintptr(fd), "userns")
	got, err := owner.Stat()
	if err != nil {
		owner.Close()
		return nil, fmt.Errorf("pod user namespace: %w", err)
	}
	self, err := os.Stat("/proc/self/ns/user")
	if err != nil {
		owner.Close()
		return nil, fmt.Errorf("pod user namespace: %w", err)
	}
	if os.SameFile(got, self) {
		owner.Close()
		return nil, nil
	}
	return owner, nil
}

// idMapText is a mapping as /proc/<pid>/uid_map takes it.
func idMapText(m []idMapping) string {
	var b strings.Builder
	for _, l := range m {
		fmt.Fprintf(&b, "%d %d %d\n", l.containerID, l.hostID, l.size)
	}
	return b.String()
}

// settle sees the clone pid into the pod's user namespace: a new one is
// mapped here once the clone has made it. With newPID it returns the pid
// of the init the clone starts in the new pid namespace (the holder),
// else pid itself.
func (u *holderUserns) settle(pid int, newPID bool) (int, error) {
	// The clone has its copy; the daemon's goes, so that a clone that
	// fails reads as an end of file here.
	u.childEnd.Close()
	if u.owner == nil {
		if err := u.mapNew(pid); err != nil {
			return 0, err
		}
	}
	if !newPID {
		return pid, nil
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(u.daemonEnd, b); err != nil {
		return 0, fmt.Errorf("pod user namespace: the holder started no pid namespace init: %w", err)
	}
	return int(int32(binary.NativeEndian.Uint32(b))), nil
}

// mapNew waits for the clone pid to make its user namespace, writes the
// namespace's mappings and lets the clone go on.
func (u *holderUserns) mapNew(pid int) error {
	one := make([]byte, 1)
	if _, err := io.ReadFull(u.daemonEnd, one); err != nil {
		return fmt.Errorf("pod user namespace: the holder did not make it: %w", err)
	}
	for _, f := range []struct{ name, text string }{{"uid_map", u.uidMap}, {"gid_map", u.gidMap}} {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, f.name), []byte(f.text), 0); err != nil {
			return fmt.Errorf("pod user namespace: write its %s: %w", f.name, err)
		}
	}
	if _, err := u.daemonEnd.Write(one); err != nil {
		return fmt.Errorf("pod user namespace: %w", err)
	}
	return nil
}

func (u *holderUserns) close() {
	for _, f := range []*os.File{u.owner, u.daemonEnd, u.childEnd} {
		if f != nil {
			f.Close()
		}
	}
}
