// Package metrics converts libcontainer's cgroup statistics into
// containerd's cgroup v1 and v2 Metrics protobufs, for the shim. It is
// apart from package cgroups so that library users do not import containerd.
package metrics

import (
	berthcgroups "github.com/berth-oci/berth/cgroups"
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	occgroups "github.com/opencontainers/cgroups"
)

// MetricsV1 converts libcontainer's statistics into containerd's cgroup v1
// Metrics (type URL io.containerd.cgroups.v1.Metrics).
func MetricsV1(s *occgroups.Stats) *v1.Metrics {
	m := &v1.Metrics{
		Pids: &v1.PidsStat{Current: s.PidsStats.Current, Limit: s.PidsStats.Limit},
		CPU: &v1.CPUStat{
			Usage: &v1.CPUUsage{
				Total:  s.CpuStats.CpuUsage.TotalUsage,
				Kernel: s.CpuStats.CpuUsage.UsageInKernelmode,
				User:   s.CpuStats.CpuUsage.UsageInUsermode,
				PerCPU: s.CpuStats.CpuUsage.PercpuUsage,
			},
			Throttling: &v1.Throttle{
				Periods:          s.CpuStats.ThrottlingData.Periods,
				ThrottledPeriods: s.CpuStats.ThrottlingData.ThrottledPeriods,
				ThrottledTime:    s.CpuStats.ThrottlingData.ThrottledTime,
			},
		},
		Memory: memoryV1(&s.MemoryStats),
		Blkio: &v1.BlkIOStat{
			IoServiceBytesRecursive: blkioV1(s.BlkioStats.IoServiceBytesRecursive),
			IoServicedRecursive:     blkioV1(s.BlkioStats.IoServicedRecursive),
			IoQueuedRecursive:       blkioV1(s.BlkioStats.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkioV1(s.BlkioStats.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkioV1(s.BlkioStats.IoWaitTimeRecursive),
			IoMergedRecursive:       blkioV1(s.BlkioStats.IoMergedRecursive),
			IoTimeRecursive:         blkioV1(s.BlkioStats.IoTimeRecursive),
			SectorsRecursive:        blkioV1(s.BlkioStats.SectorsRecursive),
		},
	}
	for size, h := range s.HugetlbStats {
		m.Hugetlb = append(m.Hugetlb, &v1.HugetlbStat{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt, Pagesize: size})
	}
	return m
}

func memoryV1(ms *occgroups.MemoryStats) *v1.MemoryStat {
	st := ms.Stats
	entry := func(d occgroups.MemoryData) *v1.MemoryEntry {
		return &v1.MemoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
	}
	return &v1.MemoryStat{
		Cache:                   st["cache"],
		RSS:                     st["rss"],
		RSSHuge:                 st["rss_huge"],
		MappedFile:              st["mapped_file"],
		Dirty:                   st["dirty"],
		Writeback:               st["writeback"],
		PgPgIn:                  st["pgpgin"],
		PgPgOut:                 st["pgpgout"],
		PgFault:                 st["pgfault"],
		PgMajFault:              st["pgmajfault"],
		InactiveAnon:            st["inactive_anon"],
		ActiveAnon:              st["active_anon"],
		InactiveFile:            st["inactive_file"],
		ActiveFile:              st["active_file"],
		Unevictable:             st["unevictable"],
		HierarchicalMemoryLimit: st["hierarchical_memory_limit"],
		HierarchicalSwapLimit:   st["hierarchical_memsw_limit"],
		TotalCache:              st["total_cache"],
		TotalRSS:                st["total_rss"],
		TotalRSSHuge:            st["total_rss_huge"],
		TotalMappedFile:         st["total_mapped_file"],
		TotalDirty:              st["total_dirty"],
		TotalWriteback:          st["total_writeback"],
		TotalPgPgIn:             st["total_pgpgin"],
		TotalPgPgOut:            st["total_pgpgout"],
		TotalPgFault:            st["total_pgfault"],
		TotalPgMajFault:         st["total_pgmajfault"],
		TotalInactiveAnon:       st["total_inactive_anon"],
		TotalActiveAnon:         st["total_active_anon"],
		TotalInactiveFile:       st["total_inactive_file"],
		TotalActiveFile:         st["total_active_file"],
		TotalUnevictable:        st["total_unevictable"],
		Usage:                   entry(ms.Usage),
		Swap:                    entry(ms.SwapUsage),
		Kernel:                  entry(ms.KernelUsage),
		KernelTCP:               entry(ms.KernelTCPUsage),
	}
}

func blkioV1(entries []occgroups.BlkioStatEntry) []*v1.BlkIOEntry {
	out := make([]*v1.BlkIOEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, &v1.BlkIOEntry{Op: e.Op, Major: e.Major, Minor: e.Minor, Value: e.Value})
	}
	return out
}

// MetricsV2 converts libcontainer's statistics and the cgroup's
// memory.events counters (which libcontainer does not read) into
// containerd's cgroup v2 Metrics (type URL io.containerd.cgroups.v2.Metrics),
// pressure stall information (PSI) included, as containerd's runc shim
// reports them.
func MetricsV2(s *occgroups.Stats, events berthcgroups.MemoryEvents) *v2.Metrics {
	st := s.MemoryStats.Stats
	m := &v2.Metrics{
		Pids: &v2.PidsStat{Current: s.PidsStats.Current, Limit: s.PidsStats.Limit},
		CPU: &v2.CPUStat{
			// libcontainer reports nanoseconds; v2 Metrics want microseconds.
			UsageUsec:     s.CpuStats.CpuUsage.TotalUsage / 1000,
			UserUsec:      s.CpuStats.CpuUsage.UsageInUsermode / 1000,
			SystemUsec:    s.CpuStats.CpuUsage.UsageInKernelmode / 1000,
			NrPeriods:     s.CpuStats.ThrottlingData.Periods,
			NrThrottled:   s.CpuStats.ThrottlingData.ThrottledPeriods,
			ThrottledUsec: s.CpuStats.ThrottlingData.ThrottledTime / 1000,
			PSI:           psiV2(s.CpuStats.PSI),
		},
		Memory: &v2.MemoryStat{
			Anon:          st["anon"],
			File:          st["file"],
			KernelStack:   st["kernel_stack"],
			Slab:          st["slab"],
			Sock:          st["sock"],
			Shmem:         st["shmem"],
			FileMapped:    st["file_mapped"],
			FileDirty:     st["file_dirty"],
			FileWriteback: st["file_writeback"],
			AnonThp:       st["anon_thp"],
			InactiveAnon:  st["inactive_anon"],
			ActiveAnon:    st["active_anon"],
			InactiveFile:  st["inactive_file"],
			ActiveFile:    st["active_file"],
			Unevictable:   st["unevictable"],
			Pgfault:       st["pgfault"],
			Pgmajfault:    st["pgmajfault"],
			Usage:         s.MemoryStats.Usage.Usage,
			UsageLimit:    s.MemoryStats.Usage.Limit,
			SwapUsage:     s.MemoryStats.SwapUsage.Usage,
			SwapLimit:     s.MemoryStats.SwapUsage.Limit,
			MaxUsage:      s.MemoryStats.Usage.MaxUsage,
			PSI:           psiV2(s.MemoryStats.PSI),
		},
		MemoryEvents: &v2.MemoryEvents{
			Low:     events.Low,
			High:    events.High,
			Max:     events.Max,
			Oom:     events.OOM,
			OomKill: events.OOMKill,
		},
	}
	m.Io = &v2.IOStat{Usage: ioV2(s.BlkioStats), PSI: psiV2(s.BlkioStats.PSI)}
	for size, h := range s.HugetlbStats {
		m.Hugetlb = append(m.Hugetlb, &v2.HugeTlbStat{Current: h.Usage, Max: h.MaxUsage, Pagesize: size})
	}
	return m
}

// ioV2 merges v1-style per-operation blkio entries into one v2 IOEntry per
// device: bytes from IoServiceBytes, operations from IoServiced.
func ioV2(b occgroups.BlkioStats) []*v2.IOEntry {
	var out []*v2.IOEntry
	byDev := map[[2]uint64]*v2.IOEntry{}
	add := func(entries []occgroups.BlkioStatEntry, read, write func(*v2.IOEntry, uint64)) {
		for _, e := range entries {
			k := [2]uint64{e.Major, e.Minor}
			d := byDev[k]
			if d == nil {
				d = &v2.IOEntry{Major: e.Major, Minor: e.Minor}
				byDev[k] = d
				out = append(out, d)
			}
			switch e.Op {
			case "Read", "read":
				read(d, e.Value)
			case "Write", "write":
				write(d, e.Value)
			}
		}
	}
	add(b.IoServiceBytesRecursive, func(d *v2.IOEntry, v uint64) { d.Rbytes = v }, func(d *v2.IOEntry, v uint64) { d.Wbytes = v })
	add(b.IoServicedRecursive, func(d *v2.IOEntry, v uint64) { d.Rios = v }, func(d *v2.IOEntry, v uint64) { d.Wios = v })
	return out
}

// psiV2 converts libcontainer's pressure stall information; nil (no PSI:
// a kernel without it, or cgroup v1) stays nil.
func psiV2(p *occgroups.PSIStats) *v2.PSIStats {
	if p == nil {
		return nil
	}
	data := func(d occgroups.PSIData) *v2.PSIData {
		return &v2.PSIData{Avg10: d.Avg10, Avg60: d.Avg60, Avg300: d.Avg300, Total: d.Total}
	}
	return &v2.PSIStats{Some: data(p.Some), Full: data(p.Full)}
}
