package cgroups

import (
	occgroups "github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/types"
)

// EventStats converts libcontainer's statistics into the stats of runc's
// `events` JSON (types.Stats), which `berth events` prints.
func EventStats(s *occgroups.Stats) *types.Stats {
	out := &types.Stats{
		CPU: types.Cpu{
			Usage: types.CpuUsage{
				Total:        s.CpuStats.CpuUsage.TotalUsage,
				Percpu:       s.CpuStats.CpuUsage.PercpuUsage,
				PercpuKernel: s.CpuStats.CpuUsage.PercpuUsageInKernelmode,
				PercpuUser:   s.CpuStats.CpuUsage.PercpuUsageInUsermode,
				Kernel:       s.CpuStats.CpuUsage.UsageInKernelmode,
				User:         s.CpuStats.CpuUsage.UsageInUsermode,
			},
			Throttling: types.Throttling{
				Periods:          s.CpuStats.ThrottlingData.Periods,
				ThrottledPeriods: s.CpuStats.ThrottlingData.ThrottledPeriods,
				ThrottledTime:    s.CpuStats.ThrottlingData.ThrottledTime,
			},
			PSI: s.CpuStats.PSI,
		},
		CPUSet: types.CPUSet{
			CPUs:                  s.CPUSetStats.CPUs,
			CPUExclusive:          s.CPUSetStats.CPUExclusive,
			Mems:                  s.CPUSetStats.Mems,
			MemHardwall:           s.CPUSetStats.MemHardwall,
			MemExclusive:          s.CPUSetStats.MemExclusive,
			MemoryMigrate:         s.CPUSetStats.MemoryMigrate,
			MemorySpreadPage:      s.CPUSetStats.MemorySpreadPage,
			MemorySpreadSlab:      s.CPUSetStats.MemorySpreadSlab,
			MemoryPressure:        s.CPUSetStats.MemoryPressure,
			SchedLoadBalance:      s.CPUSetStats.SchedLoadBalance,
			SchedRelaxDomainLevel: s.CPUSetStats.SchedRelaxDomainLevel,
		},
		Memory: types.Memory{
			Cache:     s.MemoryStats.Cache,
			Usage:     memoryEntry(s.MemoryStats.Usage),
			Swap:      memoryEntry(s.MemoryStats.SwapUsage),
			Kernel:    memoryEntry(s.MemoryStats.KernelUsage),
			KernelTCP: memoryEntry(s.MemoryStats.KernelTCPUsage),
			Raw:       s.MemoryStats.Stats,
			PSI:       s.MemoryStats.PSI,
		},
		Pids: types.Pids{Current: s.PidsStats.Current, Limit: s.PidsStats.Limit},
		Blkio: types.Blkio{
			IoServiceBytesRecursive: blkioEntries(s.BlkioStats.IoServiceBytesRecursive),
			IoServicedRecursive:     blkioEntries(s.BlkioStats.IoServicedRecursive),
			IoQueuedRecursive:       blkioEntries(s.BlkioStats.IoQueuedRecursive),
			IoServiceTimeRecursive:  blkioEntries(s.BlkioStats.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     blkioEntries(s.BlkioStats.IoWaitTimeRecursive),
			IoMergedRecursive:       blkioEntries(s.BlkioStats.IoMergedRecursive),
			IoTimeRecursive:         blkioEntries(s.BlkioStats.IoTimeRecursive),
			SectorsRecursive:        blkioEntries(s.BlkioStats.SectorsRecursive),
			PSI:                     s.BlkioStats.PSI,
		},
		Hugetlb: map[string]types.Hugetlb{},
	}
	for size, h := range s.HugetlbStats {
		out.Hugetlb[size] = types.Hugetlb{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return out
}

func memoryEntry(d occgroups.MemoryData) types.MemoryEntry {
	return types.MemoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
}

func blkioEntries(in []occgroups.BlkioStatEntry) []types.BlkioEntry {
	out := make([]types.BlkioEntry, 0, len(in))
	for _, e := range in {
		out = append(out, types.BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}
