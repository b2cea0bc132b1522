package hoststate

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PssKiB sums Pss from /proc/PID/smaps_rollup over pids.
func PssKiB(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			return 0, err
		}
		v, err := kBField(data, "Pss:")
		if err != nil {
			return 0, fmt.Errorf("pid %d: %w", pid, err)
		}
		total += v
	}
	return total, nil
}

// SettledMemAvailableKiB reads MemAvailable from /proc/meminfo after
// dropping the page cache and reclaimable slab, so that the reading
// reflects memory in use rather than what happens to be cached.
func SettledMemAvailableKiB() (int64, error) {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200); err != nil {
		return 0, fmt.Errorf("drop caches: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	return kBField(data, "MemAvailable:")
}

// kBField returns the kB value of the line starting with name.
func kBField(data []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s line", name)
}
