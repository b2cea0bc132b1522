package metrics

import (
	"testing"

	berthcgroups "github.com/berth-oci/berth/cgroups"
	occgroups "github.com/opencontainers/cgroups"
)

func TestMetrics(t *testing.T) {
	s := &occgroups.Stats{}
	s.CpuStats.CpuUsage.TotalUsage = 5_000_000
	s.CpuStats.CpuUsage.UsageInUsermode = 3_000_000
	s.MemoryStats.Usage = occgroups.MemoryData{Usage: 4096, Limit: 1 << 20, MaxUsage: 8192}
	s.MemoryStats.Stats = map[string]uint64{"cache": 11, "rss": 22, "anon": 33, "oom_kill": 2}
	s.PidsStats = occgroups.PidsStats{Current: 3, Limit: 10}
	s.BlkioStats.IoServiceBytesRecursive = []occgroups.BlkioStatEntry{{Major: 8, Minor: 0, Op: "Read", Value: 100}, {Major: 8, Minor: 0, Op: "Write", Value: 200}}
	s.HugetlbStats = map[string]occgroups.HugetlbStats{"2MB": {Usage: 5}}

	v1 := MetricsV1(s)
	switch {
	case v1.CPU.Usage.Total != 5_000_000 || v1.CPU.Usage.User != 3_000_000:
		t.Errorf("v1 cpu %+v", v1.CPU.Usage)
	case v1.Memory.Usage.Usage != 4096 || v1.Memory.Usage.Limit != 1<<20 || v1.Memory.Cache != 11 || v1.Memory.RSS != 22:
		t.Errorf("v1 memory %+v", v1.Memory)
	case v1.Pids.Current != 3 || v1.Pids.Limit != 10:
		t.Errorf("v1 pids %+v", v1.Pids)
	case len(v1.Blkio.IoServiceBytesRecursive) != 2 || len(v1.Hugetlb) != 1:
		t.Errorf("v1 blkio %v hugetlb %v", v1.Blkio, v1.Hugetlb)
	}

	s.CpuStats.PSI = &occgroups.PSIStats{Some: occgroups.PSIData{Avg10: 1.5, Total: 10}, Full: occgroups.PSIData{Avg300: 0.25, Total: 4}}
	s.MemoryStats.PSI = &occgroups.PSIStats{Some: occgroups.PSIData{Avg60: 2.5, Total: 20}}
	s.BlkioStats.PSI = &occgroups.PSIStats{Full: occgroups.PSIData{Total: 30}}
	// memory.stat has no event counters on v2: they come from memory.events.
	v2 := MetricsV2(s, berthcgroups.MemoryEvents{High: 4, Max: 5, OOM: 3, OOMKill: 1})
	switch {
	case v2.CPU.UsageUsec != 5000 || v2.CPU.UserUsec != 3000:
		t.Errorf("v2 cpu %+v", v2.CPU)
	case v2.Memory.Usage != 4096 || v2.Memory.UsageLimit != 1<<20 || v2.Memory.Anon != 33:
		t.Errorf("v2 memory %+v events %+v", v2.Memory, v2.MemoryEvents)
	case len(v2.Io.Usage) != 1 || v2.Io.Usage[0].Rbytes != 100 || v2.Io.Usage[0].Wbytes != 200:
		t.Errorf("v2 io %+v", v2.Io.Usage)
	case v2.MemoryEvents.High != 4 || v2.MemoryEvents.Max != 5 || v2.MemoryEvents.Oom != 3 || v2.MemoryEvents.OomKill != 1:
		t.Errorf("v2 memory events %+v", v2.MemoryEvents)
	case v2.CPU.PSI.GetSome().GetAvg10() != 1.5 || v2.CPU.PSI.GetFull().GetAvg300() != 0.25 || v2.CPU.PSI.GetFull().GetTotal() != 4:
		t.Errorf("v2 cpu psi %+v", v2.CPU.PSI)
	case v2.Memory.PSI.GetSome().GetAvg60() != 2.5 || v2.Memory.PSI.GetSome().GetTotal() != 20:
		t.Errorf("v2 memory psi %+v", v2.Memory.PSI)
	case v2.Io.PSI.GetFull().GetTotal() != 30:
		t.Errorf("v2 io psi %+v", v2.Io.PSI)
	}
	if none := MetricsV2(&occgroups.Stats{}, berthcgroups.MemoryEvents{}); none.CPU.PSI != nil || none.Memory.PSI != nil || none.Io.PSI != nil {
		t.Errorf("PSI without the kernel's: %+v %+v %+v", none.CPU.PSI, none.Memory.PSI, none.Io.PSI)
	}
}
