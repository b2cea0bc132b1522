package metrics

import (
	"testing"

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

	v2 := MetricsV2(s)
	switch {
	case v2.CPU.UsageUsec != 5000 || v2.CPU.UserUsec != 3000:
		t.Errorf("v2 cpu %+v", v2.CPU)
	case v2.Memory.Usage != 4096 || v2.Memory.UsageLimit != 1<<20 || v2.Memory.Anon != 33 || v2.MemoryEvents.OomKill != 2:
		t.Errorf("v2 memory %+v events %+v", v2.Memory, v2.MemoryEvents)
	case len(v2.Io.Usage) != 1 || v2.Io.Usage[0].Rbytes != 100 || v2.Io.Usage[0].Wbytes != 200:
		t.Errorf("v2 io %+v", v2.Io.Usage)
	}
}
