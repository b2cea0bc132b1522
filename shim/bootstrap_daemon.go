package shim

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/berth-oci/berth/cgroups"
)

// What start does for the runc option ShimCgroup and for the daemon's OOM
// score, as containerd's runc shim does for its own process.
//
// ShimCgroup: containerd's runc shim, a process per container (or per
// group), joins the cgroup the option names. berth's daemon may already be
// serving when a container names one:
//   - a container of the namespace's shared daemon (no group) goes to the
//     daemon of the namespace's containers that name the same ShimCgroup,
//     started in it: a daemon serving other containers is never moved into
//     a cgroup one container names;
//   - a container of a named group (a pod, a group annotation) goes to
//     that group's daemon, which joins the cgroup: the group is the
//     container's, as a runc shim's would be.
//
// The OOM score: the daemon's oom_score_adj is containerd's plus one (at
// most 1000), so that under memory pressure the kernel kills a shim before
// containerd. start sets it on itself before it starts the daemon, which
// inherits it (and its children until they set their own); an in-place
// upgrade keeps it (an exec keeps the process's score).

// daemonGroup is the group of the daemon serving a container of group
// (empty: the namespace's shared daemon) that names shimCgroup.
func daemonGroup(group, shimCgroup string) string {
	if group != "" || shimCgroup == "" {
		return group
	}
	return "shim-cgroup:" + shimCgroup
}

// joinServingDaemon moves the daemon listening on path into shimCgroup.
func joinServingDaemon(path, shimCgroup string) error {
	pid, err := listenerPid(path)
	if err != nil {
		return fmt.Errorf("runtime option ShimCgroup: find the serving daemon: %w", err)
	}
	if err := cgroups.JoinProcess(shimCgroup, pid); err != nil {
		return fmt.Errorf("runtime option ShimCgroup: %w", err)
	}
	return nil
}

// listenerPid is the pid of the process listening on the unix socket path
// (its peer credentials).
func listenerPid(path string) (int, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return int(cred.Pid), nil
}

// oomScoreAdjMax is the highest oom_score_adj.
const oomScoreAdjMax = 1000

// adjustOOMScore sets this process's oom_score_adj to parent's plus one.
// Raising it needs no privilege; lowering it does (CAP_SYS_RESOURCE),
// so a refusal is no error where this process may not lower it, as
// containerd's runc shim ignores it.
func adjustOOMScore(parent int) error {
	score, err := readOOMScoreAdj(parent)
	if err != nil {
		return fmt.Errorf("the shim's oom_score_adj: containerd's: %w", err)
	}
	score = min(score+1, oomScoreAdjMax)
	err = os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(score)), 0)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the shim's oom_score_adj: %w", err)
	}
	return nil
}

// readOOMScoreAdj reads pid's oom_score_adj.
func readOOMScoreAdj(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
