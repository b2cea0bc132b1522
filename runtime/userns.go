package runtime

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// newUserNamespace returns an open file of a new user namespace with the
// given mappings, for idmapped mounts (mount_setattr's MOUNT_ATTR_IDMAP
// takes such a file). Both mappings must be given. The namespace lives as
// long as the file is open.
//
// A child of this process holds the namespace while it is opened: it is
// put in ptrace's TRACEME mode, so it stops at its exec and never runs,
// then killed and collected (with the reaper, if any, held off meanwhile).
func newUserNamespace(uids, gids []specs.LinuxIDMapping) (*os.File, error) {
	if len(uids) == 0 || len(gids) == 0 {
		return nil, errorf(ErrInvalid, "user namespace: uid and gid mappings must both be given")
	}
	var ns *os.File
	err := spawning(func() error {
		p, err := os.StartProcess("/proc/self/exe", []string{"berth-userns"}, &os.ProcAttr{
			Sys: &syscall.SysProcAttr{
				Cloneflags:  unix.CLONE_NEWUSER,
				UidMappings: sysIDMap(uids),
				GidMappings: sysIDMap(gids),
				Ptrace:      true,
			},
		})
		if err != nil {
			return fmt.Errorf("user namespace: start its holder: %w", err)
		}
		defer func() {
			_ = p.Kill()
			_, _ = p.Wait()
		}()
		ns, err = os.Open("/proc/" + strconv.Itoa(p.Pid) + "/ns/user")
		return err
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

func sysIDMap(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}
