package hoststate

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ShimPids returns the pids of the shim daemons whose binary name ends in
// binary (any containerd-shim when empty) and whose -address is the
// containerd socket sock.
func ShimPids(binary, sock string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		name := filepath.Base(args[0])
		if !strings.HasPrefix(name, "containerd-shim") || !strings.HasSuffix(name, binary) {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == sock {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// WaitShimsGone waits up to timeout for the shim daemons ShimPids(binary,
// sock) finds to exit, and returns those still running and how long it
// waited.
func WaitShimsGone(binary, sock string, timeout time.Duration) ([]int, time.Duration) {
	start := time.Now()
	for {
		left := ShimPids(binary, sock)
		if len(left) == 0 || time.Since(start) >= timeout {
			return left, time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ProcessesNamed returns the pids of the processes whose name (comm) is
// comm, and each one's parent pid.
func ProcessesNamed(comm string) map[int]int {
	out := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var name string
		ppid := 0
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Name:"); ok {
				name = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "PPid:"); ok {
				ppid, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if name == comm {
			out[pid] = ppid
		}
	}
	return out
}

// PodHolderName is the name of berth's pod holder processes (pods without
// a pause container).
const PodHolderName = "berth-pod"
