// Package handover holds what every part of the shim that survives an
// in-place upgrade shares: the set of handles passed across the exec, and
// the error that says why a part cannot be handed over now. Each part
// (stdio, task, sandbox) describes its own state with them; the upgrade
// package orchestrates.
package handover

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// FDSet collects the handles a handover passes: each keeps its fd number
// across the exec, its close-on-exec flag cleared at the last moment.
type FDSet struct {
	files []*os.File
}

// Add records f and returns its fd number, read without os.File.Fd (which
// would make the handle blocking, and end its deadlines).
func (s *FDSet) Add(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("%s: %w", f.Name(), err)
	}
	fd := -1
	if err := rc.Control(func(raw uintptr) { fd = int(raw) }); err != nil {
		return -1, fmt.Errorf("%s: %w", f.Name(), err)
	}
	s.files = append(s.files, f)
	return fd, nil
}

// Inherit clears close-on-exec on every fd (on is true) or sets it again
// (the exec failed).
func (s *FDSet) Inherit(on bool) error {
	for _, f := range s.files {
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		var ferr error
		if err := rc.Control(func(raw uintptr) {
			flag := unix.FD_CLOEXEC
			if on {
				flag = 0
			}
			_, ferr = unix.FcntlInt(raw, unix.F_SETFD, flag)
		}); err != nil {
			return err
		}
		if ferr != nil {
			return fmt.Errorf("%s: %w", f.Name(), ferr)
		}
	}
	return nil
}

// Refused says why a part cannot be handed over now; the upgrade is then
// given up and the daemon serves on.
type Refused struct{ Why string }

func (e Refused) Error() string { return "cannot hand over: " + e.Why }

// IsTimeout reports whether err is a deadline's: how a read or a write
// that an upgrade interrupted (by setting a deadline in the past) ends.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}
