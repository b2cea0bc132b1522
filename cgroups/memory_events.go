package cgroups

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// MemoryEvents are the counters of a cgroup v2 memory.events file: how
// often the cgroup went under its low boundary, over high, hit max, met the
// OOM killer, and had a process killed by it.
type MemoryEvents struct {
	Low, High, Max, OOM, OOMKill uint64
}

// ReadMemoryEvents reads <dir>/memory.events of a cgroup v2 directory.
// Unknown keys are ignored (newer kernels add some).
func ReadMemoryEvents(dir string) (MemoryEvents, error) {
	path := filepath.Join(dir, "memory.events")
	data, err := os.ReadFile(path)
	if err != nil {
		return MemoryEvents{}, fmt.Errorf("memory events: %w", err)
	}
	var ev MemoryEvents
	fields := map[string]*uint64{"low": &ev.Low, "high": &ev.High, "max": &ev.Max, "oom": &ev.OOM, "oom_kill": &ev.OOMKill}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		dst := fields[string(key)]
		if !ok || dst == nil {
			continue
		}
		n, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil {
			return MemoryEvents{}, fmt.Errorf("memory events: %s: %s: %w", path, key, err)
		}
		*dst = n
	}
	return ev, nil
}
