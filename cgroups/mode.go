package cgroups

import (
	occgroups "github.com/opencontainers/cgroups"
)

// Mode is how the host mounts cgroups.
type Mode string

// The cgroup modes a host can be in.
const (
	// V1 is the legacy hierarchy only.
	V1 Mode = "v1"
	// Hybrid is v1 controllers with a cgroup2 mount at /sys/fs/cgroup/unified.
	Hybrid Mode = "hybrid"
	// V2 is the unified hierarchy at /sys/fs/cgroup.
	V2 Mode = "v2"
)

// HostMode detects the host's cgroup mode.
func HostMode() Mode {
	switch {
	case occgroups.IsCgroup2UnifiedMode():
		return V2
	case occgroups.IsCgroup2HybridMode():
		return Hybrid
	}
	return V1
}
