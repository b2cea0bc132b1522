package runtime

import (
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMergeResources(t *testing.T) {
	pids := int64(10)
	res := cgroups.Resources{Memory: 100, CpuShares: 1024, CpuQuota: 5000, CpuPeriod: 100000, PidsLimit: &pids, CpusetCpus: "0"}
	mem, quota, shares, newPids := int64(200), int64(7000), uint64(512), int64(20)
	weight := uint16(300)
	mergeResources(&res, &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &mem},
		CPU:     &specs.LinuxCPU{Quota: &quota, Shares: &shares},
		Pids:    &specs.LinuxPids{Limit: &newPids},
		BlockIO: &specs.LinuxBlockIO{Weight: &weight},
	})
	switch {
	case res.Memory != 200:
		t.Errorf("memory %d", res.Memory)
	case res.CpuQuota != 7000 || res.CpuPeriod != 100000:
		t.Errorf("quota/period %d/%d", res.CpuQuota, res.CpuPeriod)
	case res.CpuShares != 512 || res.CpuWeight == 0:
		t.Errorf("shares %d weight %d", res.CpuShares, res.CpuWeight)
	case *res.PidsLimit != 20:
		t.Errorf("pids %d", *res.PidsLimit)
	case res.CpusetCpus != "0":
		t.Errorf("cpuset changed to %q", res.CpusetCpus)
	case res.BlkioWeight != 300:
		t.Errorf("blkio weight %d", res.BlkioWeight)
	}
	before := res
	mergeResources(&res, &specs.LinuxResources{})
	if res.Memory != before.Memory || res.CpuQuota != before.CpuQuota || res.PidsLimit != before.PidsLimit {
		t.Error("empty update changed resources")
	}
}
