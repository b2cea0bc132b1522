package cgroups

import (
	"fmt"
	"os"
	"strings"

	occgroups "github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// requirement is one resource field of a spec and the controller it needs.
type requirement struct {
	field      string
	controller string // v1 name
	v2         string // v2 name ("" when v2 needs no controller, or has none)
	v1Only     bool
}

// required lists the controllers a spec's resources need.
func required(r *specs.LinuxResources) []requirement {
	if r == nil {
		return nil
	}
	var reqs []requirement
	add := func(field, v1, v2 string, v1Only bool) {
		reqs = append(reqs, requirement{field: field, controller: v1, v2: v2, v1Only: v1Only})
	}
	if m := r.Memory; m != nil && (m.Limit != nil || m.Reservation != nil || m.Swap != nil) {
		add("linux.resources.memory", "memory", "memory", false)
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil || c.Quota != nil || c.Period != nil || c.RealtimePeriod != nil || c.RealtimeRuntime != nil {
			add("linux.resources.cpu", "cpu", "cpu", false)
		}
		if c.Cpus != "" || c.Mems != "" {
			add("linux.resources.cpu.cpus/mems", "cpuset", "cpuset", false)
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		add("linux.resources.pids", "pids", "pids", false)
	}
	if b := r.BlockIO; b != nil && (b.Weight != nil || len(b.WeightDevice) > 0 || len(b.ThrottleReadBpsDevice) > 0 ||
		len(b.ThrottleWriteBpsDevice) > 0 || len(b.ThrottleReadIOPSDevice) > 0 || len(b.ThrottleWriteIOPSDevice) > 0) {
		add("linux.resources.blockIO", "blkio", "io", false)
	}
	if len(r.HugepageLimits) > 0 {
		add("linux.resources.hugepageLimits", "hugetlb", "hugetlb", false)
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			add("linux.resources.network.classID", "net_cls", "", true)
		}
		if len(n.Priorities) > 0 {
			add("linux.resources.network.priorities", "net_prio", "", true)
		}
	}
	if len(r.Rdma) > 0 {
		add("linux.resources.rdma", "rdma", "rdma", false)
	}
	return reqs
}

// CheckResources returns a clear error when a spec's resources need a
// cgroup controller the host does not have (for example hugetlb on a v1
// hybrid host, where it sits only on the v2 side), instead of the failure
// libcontainer would report from inside container init.
func CheckResources(r *specs.LinuxResources) error {
	mode := HostMode()
	var v2 map[string]bool
	if mode == V2 {
		data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		if err != nil {
			return fmt.Errorf("read cgroup v2 controllers: %w", err)
		}
		v2 = map[string]bool{}
		for _, c := range strings.Fields(string(data)) {
			v2[c] = true
		}
	}
	for _, req := range required(r) {
		switch {
		case mode == V2 && req.v1Only:
			return fmt.Errorf("%s: the %s controller exists only in cgroup v1, and this host runs cgroup v2", req.field, req.controller)
		case mode == V2 && req.v2 != "" && !v2[req.v2]:
			return fmt.Errorf("%s: this host's cgroup v2 root does not offer the %s controller", req.field, req.v2)
		case mode != V2:
			if _, err := occgroups.FindCgroupMountpoint("", req.controller); err != nil {
				return fmt.Errorf("%s: this host has no cgroup v1 %s hierarchy mounted (cgroup mode %s)", req.field, req.controller, mode)
			}
		}
	}
	return nil
}
